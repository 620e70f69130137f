import type { WorkflowHead } from '../store/repositories/workflow-repository.js';
import type { Store } from '../store/store.js';

/**
 * Workflow heads for starts: what a start reads of its workflow (exists, enabled, latest version,
 * webhook URL), kept by the process between starts instead of read once per request, and checked
 * again, for a whole batch of starts in one statement, in the transaction that inserts them. A
 * start prepared from a head that changed meanwhile (an update, disable or delete, in this
 * process or another) is not inserted: it fails with `StaleWorkflowError` and its route starts it
 * again from a fresh read. So a start sees every change committed before its insert, as when the
 * head was read per request, and costs one query per batch instead of one per request.
 */

/** A start was prepared from a workflow head that has changed since; start it again. */
export class StaleWorkflowError extends Error {
  constructor(readonly workflowId: string) {
    super(`workflow '${workflowId}' changed while the execution was being started`);
    this.name = 'StaleWorkflowError';
  }
}

/** Heads kept at most; past it the oldest are dropped. */
const CAPACITY = 1_000;

/** The heads this process has read, by workspace and workflow (see the module comment). */
export class WorkflowHeadCache {
  readonly #heads = new Map<string, WorkflowHead>();

  /** The live head of a workspace's workflow, from the cache or the store; undefined when none. */
  async get(store: Store, workspaceId: string, workflowId: string): Promise<WorkflowHead | undefined> {
    const key = `${workspaceId}/${workflowId}`;
    const cached = this.#heads.get(key);
    if (cached) return cached;
    const [head] = await store.workflows.heads([workflowId]);
    if (!head || head.workspaceId !== workspaceId) return undefined;
    if (this.#heads.size >= CAPACITY) {
      const oldest = this.#heads.keys().next().value;
      if (oldest !== undefined) this.#heads.delete(oldest);
    }
    this.#heads.set(key, head);
    return head;
  }

  /** Drops a workflow's head (it was found stale); the next start reads it again. */
  forget(workspaceId: string, workflowId: string): void {
    this.#heads.delete(`${workspaceId}/${workflowId}`);
  }
}

/** True when two heads agree on everything a start uses. */
function sameHead(seen: WorkflowHead, now: WorkflowHead): boolean {
  return (
    seen.workspaceId === now.workspaceId &&
    seen.name === now.name &&
    seen.enabled === now.enabled &&
    seen.webhookUrl === now.webhookUrl &&
    seen.latestVersion === now.latestVersion
  );
}

/**
 * Of starts prepared from workflow heads (`head`), those whose workflow changed since: one query
 * for all of them, in the inserting transaction. Starts without a head are never stale.
 */
export async function staleStarts<T extends { head?: WorkflowHead | undefined }>(tx: Store, starts: T[]): Promise<T[]> {
  const ids = [...new Set(starts.flatMap((start) => (start.head ? [start.head.id] : [])))];
  if (ids.length === 0) return [];
  const current = new Map((await tx.workflows.heads(ids)).map((head) => [head.id, head]));
  return starts.filter((start) => {
    if (!start.head) return false;
    const now = current.get(start.head.id);
    return !now || !sameHead(start.head, now);
  });
}
