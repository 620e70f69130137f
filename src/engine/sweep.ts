import type { FastifyBaseLogger } from 'fastify';
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
 * it finds something, and find their rows themselves. Repairs are logged at info.
 */
export async function sweepOnce(
  store: Store,
  now: number,
  claimTypes: readonly string[],
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
  logger: Pick<FastifyBaseLogger, 'info'>,
): Promise<SweepResult> {
  const work = await store.sweep.probe(now, claimTypes);
  const [recovered, timedOut, admitted] = await Promise.all([
    work.expiredLeases ? recoverExpiredLeases(store, now, workflowOf) : 0,
    work.timedOut ? timeOutExecutions(store, now, workflowOf) : [],
    work.queued ? admitStranded(store) : 0,
  ]);
  if (recovered > 0 || timedOut.length > 0 || admitted > 0)
    logger.info({ recovered, timedOut, admitted }, 'recovered work');
  return { recovered, timedOut, admitted, stepsDueAt: work.stepsDueAt, itemsDueAt: work.itemsDueAt };
}

/** What the engine does after a sweep. */
export interface AfterSweep {
  /** Claim now: something was repaired or is due. */
  claim: boolean;
  /** Include items in that claim (an item is due, or a repair may have queued some). */
  items: boolean;
  /** Nothing due now: when the next step or item is (undefined: none waits on a time). */
  wakeAt: number | undefined;
}

/**
 * What a sweep's result asks of the engine at `now`. It claims only when something was repaired
 * or is due now, so an idle poll stays the probe's one statement; otherwise it wakes when the
 * next step or item is due.
 */
export function afterSweep(result: SweepResult, now: number): AfterSweep {
  const repaired = result.recovered > 0 || result.timedOut.length > 0 || result.admitted > 0;
  const stepsAt = result.stepsDueAt ?? Number.POSITIVE_INFINITY;
  const itemsAt = result.itemsDueAt ?? Number.POSITIVE_INFINITY;
  const items = repaired || itemsAt <= now;
  const claim = items || stepsAt <= now;
  const next = Math.min(stepsAt, itemsAt);
  return { claim, items, wakeAt: claim || next === Number.POSITIVE_INFINITY ? undefined : next };
}
