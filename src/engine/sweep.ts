import { admitStranded } from '../concurrency/admission.js';
import type { Store } from '../store/store.js';
import type { CompiledWorkflow, WorkflowRef } from './compiled-workflow.js';
import { timeOutExecutions } from './execution-timeouts.js';
import { recoverExpiredLeases } from './recovery.js';

/** What one sweep repaired. */
export interface SweepResult {
  /** Steps whose expired lease was taken back. */
  recovered: number;
  /** Executions that passed their workflow timeout (their running steps are aborted). */
  timedOut: string[];
  /** Queued executions admitted to their concurrency slots. */
  admitted: number;
}

/**
 * One pass of the engine's periodic sweep (every WEFT_POLL_INTERVAL_MS, in every process):
 * expired leases, workflow timeouts, and queued executions whose slots are free without a slot
 * having been freed (a workflow enabled again, a limit raised).
 */
export async function sweepOnce(
  store: Store,
  now: number,
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
): Promise<SweepResult> {
  const [recovered, timedOut, admitted] = await Promise.all([
    recoverExpiredLeases(store, now, workflowOf),
    timeOutExecutions(store, now, workflowOf),
    admitStranded(store),
  ]);
  return { recovered, timedOut, admitted };
}
