import { wakeParentStep } from '../children/child-workflows.js';
import { askSlot, queueStored, type SlotAnswer, slotFreed } from '../concurrency/admission.js';
import { WeftError } from '../errors.js';
import { nowIso } from '../ids.js';
import type { ExecutionRow, ExecutionStepRow } from '../store/database-schema.js';
import type { Store } from '../store/store.js';
import type { CompiledWorkflow, WorkflowRef } from './compiled-workflow.js';
import { cancelUnsettledSteps } from './finish.js';
import { decideReadiness } from './scheduling-rules.js';
import { finishExecution, queueReady, SettleBatch } from './settle.js';
import { startedEvent } from './start-execution.js';
import { EXECUTION_ACTIONS, type ExecutionAction, isSettled } from './states.js';

export {
  adhocStartRequest,
  checkStartInput,
  IDEMPOTENCY_WINDOW_MS,
  insertExecutions,
  type PreparedExecution,
  prepareExecution,
  type StartExecution,
  startExecution,
  startIdempotent,
  withConcurrencyKey,
} from './start-execution.js';

/**
 * The user's lifecycle actions on an execution (SPEC §3): start, pause, resume, cancel, retry
 * from a step. Each is one transaction that checks the allowed transition (409 naming both
 * states) and announces new work, so whichever process has room runs it. Starting new
 * executions: start-execution.ts.
 */

const NO_ENGINE = { owner: '', leaseMs: 0, capacity: 0 };

function conflict(action: ExecutionAction, status: string): WeftError {
  const allowed = EXECUTION_ACTIONS[action].from.map((state) => `'${state}'`).join(' or ');
  return new WeftError('CONFLICT', `cannot ${action} an execution that is '${status}': ${action} needs ${allowed}`);
}

/** Options of a lifecycle action. */
export interface ActionOptions {
  fromStep?: string | undefined;
  /** Loads the compiled workflow; it receives the transaction's store to query with. */
  workflowOf: (execution: WorkflowRef, store: Store) => Promise<CompiledWorkflow>;
}

/** Applies a lifecycle action; returns the running steps to abort (cancel). */
export async function applyAction(
  store: Store,
  workspaceId: string,
  executionId: string,
  action: ExecutionAction,
  options: ActionOptions,
): Promise<{ execution: ExecutionRow; abort: string[] }> {
  return store.transaction(async (tx) => {
    const execution = await tx.executions.get(workspaceId, executionId, false, true);
    if (!execution) throw new WeftError('NOT_FOUND', `execution '${executionId}' was not found`);
    const rule = EXECUTION_ACTIONS[action];
    if (!rule.from.includes(execution.status as never)) throw conflict(action, execution.status);
    if (action === 'retry' && execution.status === 'completed' && options.fromStep === undefined) {
      throw new WeftError('CONFLICT', 'a completed execution has nothing to retry: name a from_step');
    }
    // Every status write below is guarded by the status read above; losing a race is a 409.
    const move = async (changes: Partial<ExecutionRow>) => {
      if (!(await tx.executions.update(execution.id, changes, [execution.status]))) {
        throw new WeftError('CONFLICT', `the execution changed while this ${action} ran; read it and try again`);
      }
    };
    const workflow = await options.workflowOf(execution, tx);
    const at = nowIso();
    const batch = new SettleBatch(tx, { ...NO_ENGINE, workflowOf: (row) => options.workflowOf(row, tx) });
    let abort: string[] = [];
    const patch: Partial<ExecutionRow> = { status: rule.to, updated_at: at };
    switch (action) {
      case 'start': {
        const slot = await askSlot(tx, execution, workflow.definition, 'start');
        // cancel_newest found the key full: the execution was cancelled, saying why.
        if (slot === 'cancelled')
          return { execution: (await tx.executions.getById(execution.id, true)) ?? execution, abort };
        const timeout = workflow.definition.timeout_seconds;
        if (slot === 'queue') Object.assign(patch, { status: 'queued', queued_at: at });
        else Object.assign(patch, { started_at: at, timeout_at: timeout ? Date.now() + timeout * 1000 : null });
        await move(patch);
        Object.assign(execution, patch);
        const roots = workflow.plan.steps.filter((step) => step.dependencies.length === 0).map((step) => step.id);
        await queueReady(batch, execution, roots);
        batch.events.push(slot === 'queue' ? await queueStored(tx, execution, at) : startedEvent(execution, at));
        break;
      }
      case 'pause':
        await move(patch);
        batch.event(execution, 'workflow.paused', { status: 'paused' });
        break;
      case 'cancel': {
        abort = await cancelUnsettledSteps(tx, execution.id, at, 'cancelled: the execution was cancelled');
        const held = execution.status;
        await move({ ...patch, completed_at: at, steps_unsettled: 0 });
        Object.assign(execution, patch);
        batch.event(execution, 'workflow.cancelled', { status: 'cancelled' });
        // Its slot goes to the oldest queued execution of its key, in this transaction.
        if (held === 'running' || held === 'paused') await slotFreed(tx, execution);
        // A cancelled child fails its parent's attempt (weft_work below announces it).
        await wakeParentStep(tx, execution);
        break;
      }
      case 'resume':
      case 'retry': {
        if (action === 'resume' && execution.status === 'paused') {
          await move(patch);
        } else {
          const admit = () => askSlot(tx, execution, workflow.definition, action);
          await resetSteps(tx, batch, execution, workflow, action === 'retry' ? options.fromStep : undefined, patch, {
            move,
            admit,
          });
        }
        Object.assign(execution, patch);
        if (execution.status === 'queued') batch.events.push(await queueStored(tx, execution, at));
        else {
          batch.event(execution, 'workflow.resumed', {
            status: 'running',
            ...(options.fromStep ? { from_step: options.fromStep } : {}),
          });
        }
        break;
      }
    }
    await tx.executionLog.append(batch.events);
    await tx.notify('weft_work');
    // Always: a step claimed by another process while this transaction ran is aborted there too.
    if (action === 'cancel') await tx.notify('weft_cancel', execution.id);
    return { execution: { ...execution, ...patch }, abort };
  });
}

/**
 * Resets steps for a resume of a failed or cancelled execution (failed, cancelled and
 * dependency-skipped steps) or a retry from a step (that step and everything downstream), then
 * recomputes every pending step's dependency counters and queues the ready ones.
 */
async function resetSteps(
  tx: Store,
  batch: SettleBatch,
  execution: ExecutionRow,
  workflow: CompiledWorkflow,
  fromStep: string | undefined,
  patch: Partial<ExecutionRow>,
  steps: { move: (changes: Partial<ExecutionRow>) => Promise<void>; admit: () => Promise<SlotAnswer> },
): Promise<void> {
  const rows = await tx.steps.list(execution.id);
  const byId = new Map(rows.map((row) => [row.step_id, row]));
  const reset = new Set<string>();
  if (fromStep !== undefined) {
    if (!byId.has(fromStep)) {
      throw new WeftError('VALIDATION_FAILED', `the execution has no step '${fromStep}'`, {
        errors: [{ path: '/from_step', message: `no step '${fromStep}'` }],
      });
    }
    const pending = [fromStep];
    while (pending.length > 0) {
      const id = pending.pop() ?? '';
      if (reset.has(id)) continue;
      reset.add(id);
      pending.push(...(workflow.dependents.get(id) ?? []));
    }
  } else {
    for (const row of rows) {
      if (
        row.status === 'failed' ||
        row.status === 'cancelled' ||
        (row.status === 'skipped' && row.skip_reason === 'dependency')
      ) {
        reset.add(row.step_id);
      }
    }
  }
  // Recompute in plan order so a reset step sees its reset dependencies as unsettled.
  const ready: string[] = [];
  let unsettled = 0;
  for (const planned of workflow.plan.steps) {
    const row = byId.get(planned.id);
    if (!row) continue;
    if (!reset.has(planned.id)) {
      if (!isSettled(row.status)) unsettled += 1;
      continue;
    }
    const deps = planned.dependencies.map((dep) => byId.get(dep));
    const counters = {
      deps_total: deps.length,
      deps_settled: deps.filter((dep) => dep && isSettled(dep.status)).length,
      deps_completed: deps.filter((dep) => dep?.status === 'completed').length,
    };
    const decision = decideReadiness(workflow.steps.get(planned.id)?.run_if, counters);
    const status = decision === 'skip' ? 'skipped' : 'pending';
    const update: Partial<ExecutionStepRow> = {
      ...counters,
      status,
      skip_reason: decision === 'skip' ? 'dependency' : null,
      output: null,
      error: null,
      used_fallback: 0,
      attempt_type: row.type,
      attempt_base: row.attempts,
      child_execution_id: null,
      lost_attempts: 0,
      run_at: null,
      lease_owner: null,
      lease_expires_at: null,
      completed_at: decision === 'skip' ? nowIso() : null,
    };
    await tx.steps.update(execution.id, planned.id, update, { statuses: [row.status] });
    byId.set(planned.id, { ...row, ...update } as ExecutionStepRow);
    if (decision === 'skip') continue;
    unsettled += 1;
    if (decision === 'ready') ready.push(planned.id);
  }
  // The workflow timeout counts again from the resume, as from a start. With steps to run, the
  // execution asks its concurrency key for a slot again (it gave its slot up when it ended).
  const timeout = workflow.definition.timeout_seconds;
  const queue = unsettled > 0 && (await steps.admit()) === 'queue';
  Object.assign(patch, {
    error: null,
    output: null,
    completed_at: null,
    steps_unsettled: unsettled,
    started_at: execution.started_at ?? nowIso(),
    timeout_at: timeout && !queue ? Date.now() + timeout * 1000 : null,
    ...(queue ? { status: 'queued', queued_at: nowIso() } : {}),
  });
  await steps.move(patch);
  Object.assign(execution, patch);
  await queueReady(batch, execution, ready);
  // Nothing left to run (every reset step was skipped, or nothing needed a reset): finish now.
  if (unsettled === 0) await finishExecution(batch, execution, workflow);
}
