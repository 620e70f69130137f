import { nowIso } from '../ids.js';
import { failExpiredTaskItem, recoverLostItem } from '../items/item-recovery.js';
import type { StepItemRow } from '../items/item-repository.js';
import type { ExecutionStepRow } from '../store/database-schema.js';
import { StepRepository } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import type { StepError } from '../tasks/task-outcomes.js';
import type { CompiledWorkflow, WorkflowRef } from './compiled-workflow.js';
import { leaseRecovered } from './engine-log.js';
import { executionError } from './execution-error.js';
import { TASK_OWNER_PREFIX, workerOfOwner } from './external-tasks.js';
import { parseJsonText } from './json-text.js';
import { failExecution, propagate, SettleBatch, settleOutcomes } from './settle.js';

/**
 * What the periodic sweep repairs: steps whose lease expired (their process or worker died);
 * executions past their workflow timeout are in execution-timeouts.ts. Every process runs it; the
 * guarded updates make sure each repair happens once.
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

/**
 * Most attempts of one step that may be lost, each time as the only step its process ran, before
 * the step fails: a step that takes its process down with it (a poison pill) must not wedge every
 * restart for ever. Losses in a crash of a process that ran other steps too do not count.
 */
export const MAX_LOST_ATTEMPTS = 5;

/** Why a lease is taken back, which decides what the lost attempt counts for. */
type LossKind =
  /** The owner died running this step only: counted towards MAX_LOST_ATTEMPTS. */
  | 'alone'
  /** The owner died running other steps too (a crash of everything): not counted. */
  | 'with_others'
  /** The owner was an earlier incarnation of a process that started again: not counted when shared. */
  | 'restart';

/** The sweep's work on one owner's expired leases. */
interface OwnerLoss {
  owner: string;
  steps: ExecutionStepRow[];
  /** Items of `for_each` steps it held (src/items/). */
  items: StepItemRow[];
  counted: boolean;
}

/**
 * Gives steps with an expired lease back to the queue: the lost attempt is recorded but does not
 * use up the retry budget, so a crash re-runs a step at least once more (at-least-once). Each
 * owner's expired leases are recovered together, after telling how its process was lost: with
 * other steps of its own (a crash of the whole process, which fails no step) or while it ran this
 * step only, which counts towards MAX_LOST_ATTEMPTS.
 */
export async function recoverExpiredLeases(
  store: Store,
  now: number,
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
): Promise<number> {
  const expired = await store.leases.expired(now, 100);
  const expiredItems = await store.itemLeases.expired(now, 100);
  const owners = new Set([...expired, ...expiredItems].map((row) => row.lease_owner ?? ''));
  let recovered = 0;
  const errors: unknown[] = [];
  for (const owner of owners) {
    // One step that cannot be recovered (a broken definition, say) must not hold back the rest.
    try {
      if (owner.startsWith(TASK_OWNER_PREFIX)) {
        for (const step of expired.filter((row) => row.lease_owner === owner)) {
          if (await failExpiredTask(store, step, now, workflowOf)) recovered += 1;
        }
        for (const item of expiredItems.filter((row) => row.lease_owner === owner)) {
          const describe = (row: StepItemRow, timeout: number | null | undefined) =>
            taskLossMessage(owner, row.started_at, timeout, now);
          if (await failExpiredTaskItem(store, item, now, describe, workflowOf)) recovered += 1;
        }
        continue;
      }
      const loss = await ownerLoss(store, owner, now);
      recovered += await recoverOwner(store, loss, now, 'expired', workflowOf, errors);
      recovered += await recoverOwnerItems(store, loss, now, 'expired', workflowOf, errors);
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) {
    throw new AggregateError(errors, `${errors.length} expired lease(s) could not be recovered (${recovered} were)`);
  }
  return recovered;
}

/** How `owner` was lost: it held several running steps, all expired (a crash of everything), or not. */
async function ownerLoss(store: Store, owner: string, now: number): Promise<OwnerLoss> {
  const [steps, items] = await Promise.all([store.leases.heldBy(owner, now), store.itemLeases.heldBy(owner, now)]);
  const held = steps.held + items.held;
  const expired = steps.expired + items.expired;
  // Every lease of a live process is renewed at once: expired together means the process died
  // (or its loop froze) while running all of them.
  const counted = !(held >= 2 && expired === held);
  return {
    owner,
    counted,
    steps: await store.leases.expiredOf(owner, now, 10_000),
    items: await store.itemLeases.heldRows(owner, now, 10_000),
  };
}

/**
 * Takes back, at once, the leases of earlier incarnations in `scope` (see `EngineLock`): called
 * by a starting engine while it holds the exclusive engine lock, so their owners are known dead.
 * On SQLite that is every other engine of the file; on PostgreSQL the owners named
 * `engine:<nodeId>:…`. Returns how many steps went back to the queue.
 */
export async function reclaimEarlierIncarnations(
  store: Store,
  ownerPrefix: string,
  self: string,
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
): Promise<number> {
  const now = Date.now();
  let recovered = 0;
  const errors: unknown[] = [];
  const owners = new Set([
    ...(await store.leases.ownersLike(ownerPrefix, self)),
    ...(await store.itemLeases.ownersLike(ownerPrefix, self)),
  ]);
  for (const owner of owners) {
    const steps = await store.leases.heldRows(owner, 10_000);
    const items = await store.itemLeases.heldRows(owner, undefined, 10_000);
    const loss = { owner, steps, items, counted: steps.length + items.length < 2 };
    recovered += await recoverOwner(store, loss, now, 'restart', workflowOf, errors);
    recovered += await recoverOwnerItems(store, loss, now, 'restart', workflowOf, errors);
  }
  if (errors.length > 0) {
    throw new AggregateError(errors, `${errors.length} lease(s) of an earlier incarnation could not be taken back`);
  }
  return recovered;
}

async function recoverOwner(
  store: Store,
  loss: OwnerLoss,
  now: number,
  why: 'expired' | 'restart',
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
  errors: unknown[],
): Promise<number> {
  let recovered = 0;
  const kind: LossKind = why === 'restart' ? 'restart' : loss.counted ? 'alone' : 'with_others';
  const others = loss.steps.length + loss.items.length - 1;
  for (const step of loss.steps) {
    try {
      if (await recoverOne(store, step, now, { kind, counted: loss.counted, others }, workflowOf)) recovered += 1;
    } catch (error) {
      errors.push(error);
    }
  }
  return recovered;
}

/** The items of a lost owner: back to the queue, or failed when lost too often alone (src/items/). */
async function recoverOwnerItems(
  store: Store,
  loss: OwnerLoss,
  now: number,
  why: 'expired' | 'restart',
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
  errors: unknown[],
): Promise<number> {
  let recovered = 0;
  const kind: LossKind = why === 'restart' ? 'restart' : loss.counted ? 'alone' : 'with_others';
  const others = loss.steps.length + loss.items.length - 1;
  for (const item of loss.items) {
    const itemLoss = {
      counted: loss.counted,
      restart: why === 'restart',
      maxLost: MAX_LOST_ATTEMPTS,
      message: (lost: number) => lossMessage(item, { kind, others }, lost, `item ${item.item_index}`),
    };
    try {
      if (await recoverLostItem(store, item, now, itemLoss, workflowOf)) recovered += 1;
    } catch (error) {
      errors.push(error);
    }
  }
  return recovered;
}

/** What the lost attempt's error says (`what`: the step, or an item of it). */
function lossMessage(
  step: { attempts: number },
  loss: { kind: LossKind; others: number },
  lost: number,
  what = 'this step',
): string {
  const attempt = `attempt ${step.attempts}`;
  if (loss.kind === 'restart') {
    return loss.others > 0
      ? `the process running ${attempt} restarted (with ${loss.others} other step(s) or item(s) running); it runs again`
      : `the process running ${attempt} restarted while running ${what} only (${lost} of ${MAX_LOST_ATTEMPTS} such losses allowed)`;
  }
  if (loss.kind === 'with_others') {
    return `lease expired: the process running ${attempt} was lost with ${loss.others} other step(s) or item(s) (a crash of the whole process); it runs again`;
  }
  return `lease expired: the process running ${attempt} was lost while running ${what} only (${lost} of ${MAX_LOST_ATTEMPTS} such losses allowed)`;
}

/** Recovers one lease; false when it was settled, renewed or re-claimed meanwhile. */
async function recoverOne(
  store: Store,
  step: ExecutionStepRow,
  now: number,
  loss: { kind: LossKind; counted: boolean; others: number },
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
): Promise<boolean> {
  const done = await store.transaction(async (tx) => {
    // The execution is locked before its step, in the same order as settles.
    const execution = await tx.executions.getById(step.execution_id, true);
    if (!execution) return false;
    const lost = step.lost_attempts + (loss.counted ? 1 : 0);
    const error = JSON.stringify({ message: lossMessage(step, loss, lost), retryable: true });
    const at = nowIso();
    const requeue = lost <= MAX_LOST_ATTEMPTS;
    // A woken `workflow` step whose settle was lost: its child already ended, so the same attempt
    // is settled from it again rather than starting another child (src/children/).
    const rewake = step.child_execution_id ? { status: 'waiting', run_at: now } : undefined;
    const patch = requeue
      ? rewake
        ? { ...rewake, lost_attempts: lost, lease_owner: null, lease_expires_at: null }
        : {
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
    // A lease renewed since it was read is not taken back (an earlier incarnation renews nothing).
    const guard = {
      statuses: ['running'],
      owner: step.lease_owner ?? '',
      attempt: step.attempts,
      ...(loss.kind === 'restart' ? {} : { leaseExpiredBefore: now }),
    };
    if (!(await tx.steps.update(step.execution_id, step.step_id, patch, guard))) return false;
    // Counted (weft_lease_expiries_total) and logged once this commits.
    tx.note(leaseRecovered(step, loss.kind === 'restart' ? 'restart' : 'expired'));
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
    const reason = loss.kind === 'restart' ? 'process_restarted' : 'lease_expired';
    await tx.executionLog.append([
      {
        workspaceId: step.workspace_id,
        executionId: step.execution_id,
        stepId: step.step_id,
        type: requeue ? 'step.retrying' : 'step.failed',
        data: { ...data, status: requeue ? 'queued' : 'failed', reason },
        at,
      },
    ]);
    if (!requeue) {
      const workflow = await workflowOf(execution, tx);
      const batch = new SettleBatch(tx, { ...NO_WORKFLOWS, workflowOf: (row) => workflowOf(row, tx) });
      if (workflow.definition.stop_on_failure === false)
        await propagate(batch, execution, workflow, step.step_id, 'failed');
      else
        await failExecution(
          batch,
          execution,
          executionError(
            'STEP_FAILED',
            `step '${step.step_id}' was lost ${lost} times while it was the only step of its process (a step that takes its process down?)`,
            { step_id: step.step_id, attempt: step.attempts, cause: JSON.parse(error) as StepError },
          ),
        );
      await tx.executionLog.append(batch.events);
    }
    await tx.notify('weft_work');
    return true;
  });
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
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
): Promise<boolean> {
  const owner = expired.lease_owner ?? '';
  return store.transaction(async (tx) => {
    const execution = await tx.executions.getById(expired.execution_id, true);
    const row = await tx.steps.get(expired.execution_id, expired.step_id);
    if (!execution || !row) return false;
    // Settled, renewed or re-claimed since it was read: nothing to recover.
    if (row.status !== 'running' || row.lease_owner !== owner || row.attempts !== expired.attempts) return false;
    if (Number(row.lease_expires_at ?? 0) >= now) return false;
    tx.note(leaseRecovered(row, 'expired'));
    const workflow = await workflowOf(execution, tx);
    const definition = workflow.steps.get(row.step_id);
    const timeout =
      row.used_fallback === 1
        ? (definition?.fallback?.timeout_seconds ?? definition?.timeout_seconds)
        : definition?.timeout_seconds;
    const message = taskLossMessage(owner, row.started_at, timeout, now);
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

/** Why a worker's lease expired: its attempt's timeout ran out, or the worker went quiet. */
function taskLossMessage(
  owner: string,
  startedAt: string | null,
  timeout: number | null | undefined,
  now: number,
): string {
  const started = startedAt === null ? now : Date.parse(startedAt);
  return timeout !== undefined && timeout !== null && now >= started + timeout * 1000
    ? `timed out after ${timeout} s (worker '${workerOfOwner(owner)}')`
    : `lease expired: worker '${workerOfOwner(owner)}' stopped sending heartbeats`;
}
