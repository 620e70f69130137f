import type { FastifyBaseLogger } from 'fastify';
import type { Store } from '../store/store.js';
import type { EngineLock } from '../store/store-dialect.js';
import type { CompiledWorkflow, WorkflowRef } from './compiled-workflow.js';
import { reclaimEarlierIncarnations } from './recovery.js';

/**
 * Joins the engine lock of `store` as `nodeId` before an engine's first claim. When the engine is
 * alone in the lock's scope, the leases of earlier incarnations are dead: their steps and items go
 * back to the queue now, not after their leases run out. Without the lock (the database refuses
 * it) the engine still runs; expired leases are then recovered by the sweep as usual.
 */
export async function holdEngineLock(
  store: Store,
  nodeId: string,
  owner: string,
  logger: FastifyBaseLogger,
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
): Promise<EngineLock | undefined> {
  try {
    return await store.holdEngineLock(nodeId, async (scope) => {
      const prefix = scope === 'database' ? 'engine:' : `engine:${nodeId}:`;
      const reclaimed = await reclaimEarlierIncarnations(store, prefix, owner, workflowOf);
      if (reclaimed > 0) logger.info({ reclaimed, scope, nodeId }, 'took back the steps of an earlier incarnation');
    });
  } catch (error) {
    logger.warn({ err: error }, 'the engine lock could not be taken; expired leases are recovered on expiry');
    return undefined;
  }
}
