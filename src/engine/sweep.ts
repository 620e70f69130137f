import { admitStranded } from '../concurrency/admission.js';
import type { Store } from '../store/store.js';
import type { CompiledWorkflow, WorkflowRef } from './compiled-workflow.js';
import { timeOutExecutions } from './execution-timeouts.js';
import { recoverExpiredLeases } from './recovery.js';

/** What one sweep repaired, and when work the engine claims is due. */
export interface SweepResult {
  /** Steps whose expired lease was taken back. */
  recovered: number;
  /** Executions that passed their workflow timeout (their running steps are aborted). */
  timedOut: string[];
  /** Queued executions admitted to their concurrency slots. */
  admitted: number;
  /** The earliest `run_at` of a step of the claimed types waiting to run (past: due now). */
  stepsDueAt: number | undefined;
  /** The same for items of `for_each` steps. */
  itemsDueAt: number | undefined;
}

/**
 * One pass of the engine's periodic sweep (every WEFT_POLL_INTERVAL_MS, in every process):
 * expired leases, workflow timeouts, and queued executions whose slots are free without a slot
 * having been freed (a workflow enabled again, a limit raised). One read says which of these
 * there are (`store.sweep.probe`), so an idle sweep is one statement; the repairs run only when
 * it finds something, and find their rows themselves.
 */
export async function sweepOnce(
  store: Store,
  now: number,
  claimTypes: readonly string[],
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
): Promise<SweepResult> {
  const work = await store.sweep.probe(now, claimTypes);
  const [recovered, timedOut, admitted] = await Promise.all([
    work.expiredLeases ? recoverExpiredLeases(store, now, workflowOf) : 0,
    work.timedOut ? timeOutExecutions(store, now, workflowOf) : [],
    work.queued ? admitStranded(store) : 0,
  ]);
  return { recovered, timedOut, admitted, stepsDueAt: work.stepsDueAt, itemsDueAt: work.itemsDueAt };
}
