import type { FastifyBaseLogger } from 'fastify';
import type { Artifacts } from '../artifacts/artifacts.js';
import type { SecretVault } from '../secrets/secret-vault.js';
import type { Store } from '../store/store.js';
import type { TaskTypeRegistry } from '../tasks/registry.js';
import type { TaskContext } from '../tasks/task-type.js';

/** Engine settings. */
export interface EngineOptions {
  store: Store;
  taskTypes: TaskTypeRegistry;
  logger: FastifyBaseLogger;
  config: TaskContext['config'];
  /** Steps this process runs at once. */
  concurrency?: number;
  /** Lease length; renewed every third of it while a step runs. */
  leaseMs?: number;
  /** Safety-net poll for work, timers, expired leases and timeouts. */
  pollMs?: number;
  /**
   * Percent of `concurrency` one workspace may hold (at least one slot), so a workspace whose steps
   * hang cannot starve the others. Default 80; 100 lets one workspace take every slot.
   */
  workspaceSlotShare?: number;
  /**
   * This process's stable name (`WEFT_NODE_ID`, default the host name): lease owners are
   * `engine:<nodeId>:<pid>:<random>`, and a restarted process takes back at once the leases of its
   * node id's earlier incarnations when no other live engine uses that id.
   */
  nodeId?: string;
  /** Reads workspace secrets for step inputs; default: no WEFT_SECRETS_KEY. */
  secrets?: SecretVault;
  /** Artifacts handlers put through `context.artifacts` (and the `http` task's `save_as`). */
  artifacts?: Artifacts;
  /** WEFT_MAX_WORKFLOW_DEPTH: nesting bound of child executions (default 10). */
  maxWorkflowDepth?: number;
  /** WEFT_MAX_OUTPUT_BYTES: largest step, item or execution output in bytes of JSON (default 1 MiB). */
  maxOutputBytes?: number;
  /**
   * On PostgreSQL, settle completed steps whose dependents run here in one statement instead of a
   * transaction of five round trips (settle-in-one-statement.ts). Default true; tests turn it off
   * to hold the settle transaction to the same results.
   */
  settleInOneStatement?: boolean;
}

/** A node id usable inside lease owners: the characters of host names, at most 64 of them. */
export function nodeIdOf(raw: string): string {
  const cleaned = raw.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
  return cleaned === '' ? 'node' : cleaned;
}
