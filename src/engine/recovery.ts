import { nowIso } from '../ids.js';
import type { Store } from '../store/store.js';
import { failExecution, SettleBatch } from './settle.js';

/**
 * What the periodic sweep repairs: steps whose lease expired (their process or worker died) and
 * executions past their workflow timeout. Every process runs it; the guarded updates make sure
 * each repair happens once.
 */

/** Failing an execution needs no workflow definition. */
const NO_WORKFLOWS = {
  owner: '',
  leaseMs: 0,
  capacity: 0,
  workflowOf: async (): Promise<never> => {
    throw new Error('no workflow is loaded while recovering');
  },
};

/** Most attempts of one step that may be lost to expired leases before the step fails. */
export const MAX_LOST_ATTEMPTS = 5;

/**
 * Gives steps with an expired lease back to the queue: the lost attempt is recorded and counted
 * but does not use up the retry budget, so a crash re-runs a step at least once more
 * (at-least-once). After MAX_LOST_ATTEMPTS lost attempts the step fails.
 */
export async function recoverExpiredLeases(store: Store, now: number): Promise<number> {
  const expired = await store.steps.expiredLeases(now, 100);
  let recovered = 0;
  for (const step of expired) {
    const done = await store.transaction(async (tx) => {
      const lost = step.lost_attempts + 1;
      const error = JSON.stringify({
        message: `lease expired: the process or worker running attempt ${step.attempts} was lost`,
        retryable: true,
      });
      const at = nowIso();
      const requeue = lost <= MAX_LOST_ATTEMPTS;
      const patch = requeue
        ? {
            status: 'queued',
            run_at: now,
            queued_at: at,
            lost_attempts: lost,
            attempt_base: step.attempt_base + 1,
            lease_owner: null,
            lease_expires_at: null,
            error,
          }
        : { status: 'failed', completed_at: at, lost_attempts: lost, lease_owner: null, lease_expires_at: null, error };
      const guard = { statuses: ['running'], owner: step.lease_owner ?? '', attempt: step.attempts };
      if (!(await tx.steps.update(step.execution_id, step.step_id, patch, guard))) return false;
      await tx.executionLog.recordAttempts([
        {
          execution_id: step.execution_id,
          step_id: step.step_id,
          attempt: step.attempts,
          workspace_id: step.workspace_id,
          type: step.type,
          status: 'lost',
          used_fallback: step.used_fallback,
          error,
          worker: step.lease_owner,
          queued_at: step.queued_at,
          started_at: step.started_at,
          ended_at: at,
        },
      ]);
      const execution = await tx.executions.getById(step.execution_id);
      if (!execution) return true;
      const data = {
        execution_id: execution.id,
        workflow_id: execution.workflow_id,
        step_id: step.step_id,
        error: JSON.parse(error),
      };
      await tx.executionLog.append([
        {
          workspaceId: step.workspace_id,
          executionId: step.execution_id,
          stepId: step.step_id,
          type: requeue ? 'step.retrying' : 'step.failed',
          data: { ...data, status: requeue ? 'queued' : 'failed', reason: 'lease_expired' },
          at,
        },
      ]);
      if (!requeue) {
        const batch = new SettleBatch(tx, NO_WORKFLOWS);
        await failExecution(batch, execution, `step '${step.step_id}' lost ${lost} attempts to expired leases`);
        await tx.executionLog.append(batch.events);
      }
      await tx.notify('weft_work');
      return true;
    });
    if (done) recovered += 1;
  }
  return recovered;
}

/** Fails executions past their workflow timeout; returns their ids (to abort running handlers). */
export async function timeOutExecutions(store: Store, now: number): Promise<string[]> {
  const due = await store.executions.timedOut(now, 100);
  const ids: string[] = [];
  for (const execution of due) {
    await store.transaction(async (tx) => {
      const batch = new SettleBatch(tx, {
        owner: '',
        leaseMs: 0,
        capacity: 0,
        workflowOf: async () => {
          throw new Error('unused');
        },
      });
      await failExecution(batch, execution, 'the workflow timed out');
      await tx.executionLog.append(batch.events);
      await tx.notify('weft_cancel', execution.id);
    });
    ids.push(execution.id);
  }
  return ids;
}
