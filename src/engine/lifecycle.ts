import { wakeParentStep } from '../children/child-workflows.js';
import type { WorkflowDefinition } from '../definition/definition-schema.js';
import { checkInput, checkInputInline } from '../definition/input-validation.js';
import { WeftError } from '../errors.js';
import { newId, nowIso } from '../ids.js';
import type { ExecutionRow, ExecutionStepRow } from '../store/database-schema.js';
import type { Store } from '../store/store.js';
import { type CompiledWorkflow, compileWorkflow } from './compiled-workflow.js';
import { cancelUnsettledSteps } from './finish.js';
import { decideReadiness } from './scheduling-rules.js';
import { finishExecution, queueReady, SettleBatch } from './settle.js';
import { EXECUTION_ACTIONS, type ExecutionAction, isSettled } from './states.js';

/**
 * Starting executions and the user's lifecycle actions (SPEC §3): start, pause, resume, cancel,
 * retry from a step. Each is one transaction that checks the allowed transition (409 naming both
 * states) and announces new work, so whichever process has room runs it.
 */

/** How to start an execution. */
export interface StartExecution {
  workspaceId: string;
  workflow: { id: string; version: number; definition: WorkflowDefinition } | undefined;
  /** Inline definition of an ad-hoc execution (already validated). */
  adhocDefinition: WorkflowDefinition | undefined;
  input: unknown;
  start: boolean;
  labels: Record<string, string>;
  reference: string | null;
  webhookUrl: string | null;
  trigger: string | null;
  /** `Idempotency-Key`: a repeated start within 24 hours returns the first execution. */
  idempotencyKey?: string | undefined;
  /** True once `input` was checked against the input_schema (and holds its defaults). */
  inputChecked?: boolean;
}

/**
 * Checks a start's input against its definition's input_schema, off the event loop when that is
 * costly (see input-validation.ts); throws the 400 of a bad input.
 */
export async function checkStartInput(request: StartExecution): Promise<StartExecution> {
  const definition = request.workflow?.definition ?? request.adhocDefinition;
  if (request.inputChecked || definition?.input_schema === undefined) return request;
  return { ...request, input: await checkInput(definition.input_schema, request.input), inputChecked: true };
}

const NO_ENGINE = { owner: '', leaseMs: 0, capacity: 0 };

/** A start request for an inline (ad-hoc) definition, started at once, with no labels. */
export function adhocStartRequest(
  workspaceId: string,
  definition: WorkflowDefinition,
  input: unknown = {},
  trigger: string | null = null,
): StartExecution {
  return {
    workspaceId,
    workflow: undefined,
    adhocDefinition: definition,
    input,
    start: true,
    labels: {},
    reference: null,
    webhookUrl: null,
    trigger,
  };
}

/** The rows a new execution consists of, ready to insert. */
export interface PreparedExecution {
  execution: ExecutionRow;
  steps: ExecutionStepRow[];
}

/** Creates an execution with its steps (and queues its roots when started), in its own transaction. */
export async function startExecution(store: Store, request: StartExecution): Promise<ExecutionRow> {
  const prepared = prepareExecution(await checkStartInput(request));
  await store.transaction((tx) => insertExecutions(tx, [prepared]));
  return prepared.execution;
}

/** How long an idempotency key holds (SPEC §3). */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * Starts an execution under an `Idempotency-Key`: a repeated start within 24 hours returns the
 * first execution (`replayed`) and creates nothing. The check and the insert share a transaction;
 * on PostgreSQL two concurrent starts with one key meet at the unique index, and the loser
 * returns the winner's execution. A key reused for another workflow is a 409.
 */
export async function startIdempotent(
  store: Store,
  request: StartExecution & { idempotencyKey: string },
): Promise<{ execution: ExecutionRow; replayed: boolean }> {
  const prepared = prepareExecution(await checkStartInput(request));
  const windowStart = new Date(Date.now() - IDEMPOTENCY_WINDOW_MS).toISOString();
  const replay = (first: ExecutionRow) => {
    if (first.workflow_id !== (request.workflow?.id ?? null)) {
      throw new WeftError(
        'CONFLICT',
        `the Idempotency-Key started execution '${first.id}' of another workflow within 24 hours; use a new key`,
      );
    }
    return { execution: first, replayed: true };
  };
  try {
    return await store.transaction(async (tx) => {
      const first = await tx.executions.byIdempotencyKey(request.workspaceId, request.idempotencyKey, windowStart);
      if (first) return replay(first);
      await tx.executions.releaseIdempotencyKey(request.workspaceId, request.idempotencyKey, windowStart);
      await insertExecutions(tx, [prepared]);
      return { execution: prepared.execution, replayed: false };
    });
  } catch (error) {
    if (!store.isUniqueViolation(error)) throw error;
    const first = await store.executions.byIdempotencyKey(request.workspaceId, request.idempotencyKey, windowStart);
    if (!first) throw error;
    return replay(first);
  }
}

/** Inserts prepared executions (one statement per table for all of them) and announces the work. */
export async function insertExecutions(tx: Store, prepared: PreparedExecution[]): Promise<void> {
  if (prepared.length === 0) return;
  await tx.executions.insertMany(prepared.map((entry) => entry.execution));
  await tx.steps.insertMany(prepared.flatMap((entry) => entry.steps));
  const started = prepared.filter((entry) => entry.execution.status === 'running');
  await tx.executionLog.append(started.map((entry) => startedEvent(entry.execution, entry.execution.created_at)));
  if (started.length > 0) await tx.notify('weft_work');
}

/**
 * Checks the input and builds the rows of a new execution; throws the 400 of a bad input.
 * Nothing is written.
 */
export function prepareExecution(request: StartExecution): PreparedExecution {
  const definition = request.workflow?.definition ?? request.adhocDefinition;
  if (!definition) throw new Error('startExecution needs a workflow or an inline definition');
  const compiled = compileWorkflow(definition);
  const input =
    request.inputChecked || definition.input_schema === undefined
      ? request.input
      : checkInputInline(definition.input_schema, request.input);
  const now = Date.now();
  const at = nowIso();
  const execution: ExecutionRow = {
    id: newId('ex'),
    workspace_id: request.workspaceId,
    workflow_id: request.workflow?.id ?? null,
    workflow_version: request.workflow?.version ?? null,
    adhoc_definition: request.adhocDefinition ? JSON.stringify(request.adhocDefinition) : null,
    status: request.start ? 'running' : 'pending',
    input: JSON.stringify(input ?? null),
    output: null,
    error: null,
    labels: JSON.stringify(request.labels),
    reference: request.reference,
    trigger: request.trigger,
    webhook_url: request.webhookUrl ?? definition.webhook_url ?? null,
    steps_total: definition.steps.length,
    steps_unsettled: definition.steps.length,
    timeout_at: request.start && definition.timeout_seconds ? now + definition.timeout_seconds * 1000 : null,
    created_at: at,
    started_at: request.start ? at : null,
    completed_at: null,
    updated_at: at,
    deleted_at: null,
    idempotency_key: request.idempotencyKey ?? null,
  };
  const steps: ExecutionStepRow[] = compiled.plan.steps.map((step, position) => ({
    execution_id: execution.id,
    step_id: step.id,
    workspace_id: request.workspaceId,
    position,
    type: step.type,
    attempt_type: step.type,
    status: request.start && step.dependencies.length === 0 ? 'queued' : 'pending',
    skip_reason: null,
    deps_total: step.dependencies.length,
    deps_settled: 0,
    deps_completed: 0,
    attempts: 0,
    attempt_base: 0,
    lost_attempts: 0,
    used_fallback: 0,
    input: null,
    output: null,
    error: null,
    run_at: request.start && step.dependencies.length === 0 ? now : null,
    lease_owner: null,
    lease_expires_at: null,
    queued_at: request.start && step.dependencies.length === 0 ? at : null,
    started_at: null,
    completed_at: null,
  }));
  return { execution, steps };
}

function startedEvent(execution: ExecutionRow, at: string) {
  return {
    workspaceId: execution.workspace_id,
    executionId: execution.id,
    type: 'workflow.started',
    at,
    data: { execution_id: execution.id, workflow_id: execution.workflow_id, status: 'running' },
  };
}

function conflict(action: ExecutionAction, status: string): WeftError {
  const allowed = EXECUTION_ACTIONS[action].from.map((state) => `'${state}'`).join(' or ');
  return new WeftError('CONFLICT', `cannot ${action} an execution that is '${status}': ${action} needs ${allowed}`);
}

/** Options of a lifecycle action. */
export interface ActionOptions {
  fromStep?: string | undefined;
  /** Loads the compiled workflow; it receives the transaction's store to query with. */
  workflowOf: (execution: ExecutionRow, store: Store) => Promise<CompiledWorkflow>;
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
        const timeout = workflow.definition.timeout_seconds;
        Object.assign(patch, { started_at: at, timeout_at: timeout ? Date.now() + timeout * 1000 : null });
        await move(patch);
        Object.assign(execution, patch);
        batch.events.push(startedEvent(execution, at));
        const roots = workflow.plan.steps.filter((step) => step.dependencies.length === 0).map((step) => step.id);
        await queueReady(batch, execution, roots);
        break;
      }
      case 'pause':
        await move(patch);
        batch.event(execution, 'workflow.paused', { status: 'paused' });
        break;
      case 'cancel': {
        abort = await cancelUnsettledSteps(tx, execution.id, at, 'cancelled: the execution was cancelled');
        await move({ ...patch, completed_at: at, steps_unsettled: 0 });
        Object.assign(execution, patch);
        batch.event(execution, 'workflow.cancelled', { status: 'cancelled' });
        // A cancelled child fails its parent's attempt (weft_work below announces it).
        await wakeParentStep(tx, execution);
        break;
      }
      case 'resume':
      case 'retry': {
        if (action === 'resume' && execution.status === 'paused') {
          await move(patch);
        } else {
          await resetSteps(
            tx,
            batch,
            execution,
            workflow,
            action === 'retry' ? options.fromStep : undefined,
            patch,
            move,
          );
        }
        Object.assign(execution, patch);
        batch.event(execution, 'workflow.resumed', {
          status: 'running',
          ...(options.fromStep ? { from_step: options.fromStep } : {}),
        });
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
  move: (changes: Partial<ExecutionRow>) => Promise<void>,
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
  // The workflow timeout counts again from the resume, as from a start.
  const timeout = workflow.definition.timeout_seconds;
  Object.assign(patch, {
    error: null,
    output: null,
    completed_at: null,
    steps_unsettled: unsettled,
    started_at: execution.started_at ?? nowIso(),
    timeout_at: timeout ? Date.now() + timeout * 1000 : null,
  });
  await move(patch);
  Object.assign(execution, patch);
  await queueReady(batch, execution, ready);
  // Nothing left to run (every reset step was skipped, or nothing needed a reset): finish now.
  if (unsettled === 0) await finishExecution(batch, execution, workflow);
}
