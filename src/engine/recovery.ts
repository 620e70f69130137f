import { nowIso } from '../ids.js';
import { recordLeaseExpiry } from '../metrics/metrics.js';
import type { ExecutionRow, ExecutionStepRow } from '../store/database-schema.js';
import { StepRepository } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import type { CompiledWorkflow } from './compiled-workflow.js';
import { TASK_OWNER_PREFIX, workerOfOwner } from './external-tasks.js';
import { parseJsonText } from './json-text.js';
import { failExecution, propagate, SettleBatch, settleOutcomes } from './settle.js';
import { ENDS_FROM, type ExecutionStatus } from './states.js';

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
export async function recoverExpiredLeases(
  store: Store,
  now: number,
  workflowOf: (execution: ExecutionRow, tx: Store) => Promise<CompiledWorkflow>,
): Promise<number> {
  const expired = await store.steps.expiredLeases(now, 100);
  let recovered = 0;
  const errors: unknown[] = [];
  for (const step of expired) {
    // One step that cannot be recovered (a broken definition, say) must not hold back the rest.
    try {
      if (await recoverOne(store, step, now, workflowOf)) recovered += 1;
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) {
    throw new AggregateError(errors, `${errors.length} expired lease(s) could not be recovered (${recovered} were)`);
  }
  return recovered;
}

/** Recovers one expired lease; false when it was settled, renewed or re-claimed meanwhile. */
async function recoverOne(
  store: Store,
  step: ExecutionStepRow,
  now: number,
  workflowOf: (execution: ExecutionRow, tx: Store) => Promise<CompiledWorkflow>,
): Promise<boolean> {
  if (step.lease_owner?.startsWith(TASK_OWNER_PREFIX)) {
    const failed = await failExpiredTask(store, step, now, workflowOf);
    if (failed) recordLeaseExpiry('worker');
    return failed;
  }
  const done = await store.transaction(async (tx) => {
    // The execution is locked before its step, in the same order as settles.
    const execution = await tx.executions.getById(step.execution_id, true);
    if (!execution) return false;
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
    // A lease renewed since it was read is not taken back.
    const guard = {
      statuses: ['running'],
      owner: step.lease_owner ?? '',
      attempt: step.attempts,
      leaseExpiredBefore: now,
    };
    if (!(await tx.steps.update(step.execution_id, step.step_id, patch, guard))) return false;
    await tx.executionLog.recordAttempts([
      {
        execution_id: step.execution_id,
        step_id: step.step_id,
        attempt: step.attempts,
        workspace_id: step.workspace_id,
        type: step.attempt_type,
        status: 'lost',
        used_fallback: step.used_fallback,
        error,
        worker: step.lease_owner,
        queued_at: step.queued_at,
        started_at: step.started_at,
        ended_at: at,
      },
    ]);
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
      const workflow = await workflowOf(execution, tx);
      const batch = new SettleBatch(tx, { ...NO_WORKFLOWS, workflowOf: (row) => workflowOf(row, tx) });
      if (workflow.definition.stop_on_failure === false)
        await propagate(batch, execution, workflow, step.step_id, 'failed');
      else await failExecution(batch, execution, `step '${step.step_id}' lost ${lost} attempts to expired leases`);
      await tx.executionLog.append(batch.events);
    }
    await tx.notify('weft_work');
    return true;
  });
  if (done) recordLeaseExpiry('engine');
  return done;
}

/**
 * An external worker's lease that expired is a failed attempt, like a timeout: the worker died,
 * hung or lost its network. It is retryable, so the step's retry policy and fallback apply.
 */
async function failExpiredTask(
  store: Store,
  expired: ExecutionStepRow,
  now: number,
  workflowOf: (execution: ExecutionRow, tx: Store) => Promise<CompiledWorkflow>,
): Promise<boolean> {
  const owner = expired.lease_owner ?? '';
  return store.transaction(async (tx) => {
    const execution = await tx.executions.getById(expired.execution_id, true);
    const row = await tx.steps.get(expired.execution_id, expired.step_id);
    if (!execution || !row) return false;
    // Settled, renewed or re-claimed since it was read: nothing to recover.
    if (row.status !== 'running' || row.lease_owner !== owner || row.attempts !== expired.attempts) return false;
    if (Number(row.lease_expires_at ?? 0) >= now) return false;
    const workflow = await workflowOf(execution, tx);
    const definition = workflow.steps.get(row.step_id);
    const timeout =
      row.used_fallback === 1
        ? (definition?.fallback?.timeout_seconds ?? definition?.timeout_seconds)
        : definition?.timeout_seconds;
    const started = row.started_at === null ? now : Date.parse(row.started_at);
    const message =
      timeout !== undefined && timeout !== null && now >= started + timeout * 1000
        ? `timed out after ${timeout} s (worker '${workerOfOwner(owner)}')`
        : `lease expired: worker '${workerOfOwner(owner)}' stopped sending heartbeats`;
    const result = await settleOutcomes(
      tx,
      [
        {
          step: StepRepository.claimed(row, execution),
          outcome: {
            kind: 'failed',
            input: parseJsonText(row.input),
            error: { message, retryable: true },
          },
          endedAt: nowIso(),
        },
      ],
      { owner, worker: workerOfOwner(owner), leaseMs: 0, capacity: 0, workflowOf: (next) => workflowOf(next, tx) },
    );
    await tx.notify('weft_work');
    for (const aborted of result.aborted) await tx.notify('weft_cancel', aborted.executionId);
    return true;
  });
}

/** Fails executions past their workflow timeout; returns their ids (to abort running handlers). */
export async function timeOutExecutions(store: Store, now: number): Promise<string[]> {
  const due = await store.executions.timedOut(now, 100);
  const ids: string[] = [];
  for (const candidate of due) {
    const timedOut = await store.transaction(async (tx) => {
      const execution = await tx.executions.getById(candidate.id, true);
      if (
        !execution ||
        !ENDS_FROM.includes(execution.status as ExecutionStatus) ||
        (execution.timeout_at ?? Infinity) > now
      )
        return false;
      const batch = new SettleBatch(tx, NO_WORKFLOWS);
      await failExecution(batch, execution, 'the workflow timed out');
      await tx.executionLog.append(batch.events);
      await tx.notify('weft_cancel', execution.id);
      return true;
    });
    if (timedOut) ids.push(candidate.id);
  }
  return ids;
}
