import { admitStarts } from '../concurrency/admission.js';
import {
  type ConcurrencyRule,
  concurrencyGroupOf,
  concurrencyRuleOf,
  renderConcurrencyKey,
} from '../concurrency/concurrency-keys.js';
import type { WorkflowDefinition } from '../definition/definition-schema.js';
import { checkInput, checkInputInline } from '../definition/input-validation.js';
import { WeftError } from '../errors.js';
import { newId, nowIso } from '../ids.js';
import type { ExecutionRow, ExecutionStepRow } from '../store/database-schema.js';
import type { ClaimedStep } from '../store/repositories/step-repository.js';
import type { WorkflowHead } from '../store/repositories/workflow-repository.js';
import type { Store } from '../store/store.js';
import { compileWorkflow } from './compiled-workflow.js';
import { stepStartedEvent } from './step-events.js';
import { StaleWorkflowError, staleStarts } from './workflow-heads.js';

/**
 * Starting executions (SPEC §3): the input and concurrency key checked, the rows of a new
 * execution built, and inserted (admitted under a concurrency block) in a transaction, once per
 * Idempotency-Key.
 */

/** How to start an execution. */
export interface StartExecution {
  workspaceId: string;
  workflow:
    | {
        id: string;
        version: number;
        definition: WorkflowDefinition;
        /** The head this start was prepared from, checked again at insert (workflow-heads.ts). */
        head?: WorkflowHead | undefined;
      }
    | undefined;
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
  /** The rendered `concurrency.key` (SPEC §3.1), set by `checkStartInput`. */
  concurrencyKey?: string | undefined;
}

/**
 * Checks a start's input against its definition's input_schema, off the event loop when that is
 * costly (see input-validation.ts); throws the 400 of a bad input.
 */
export async function checkStartInput(request: StartExecution): Promise<StartExecution> {
  const definition = request.workflow?.definition ?? request.adhocDefinition;
  let checked = request;
  if (!request.inputChecked && definition?.input_schema !== undefined) {
    checked = { ...request, input: await checkInput(definition.input_schema, request.input), inputChecked: true };
  }
  return withConcurrencyKey(checked);
}

/**
 * Renders a start's `concurrency.key` from its input (with the input_schema's defaults when it
 * was checked); a key that cannot render is the 400 of a bad input.
 */
export async function withConcurrencyKey(request: StartExecution): Promise<StartExecution> {
  const definition = request.workflow?.definition ?? request.adhocDefinition;
  const rule = definition ? concurrencyRuleOf(definition) : undefined;
  if (!rule || request.concurrencyKey !== undefined) return request;
  const input =
    request.inputChecked || definition?.input_schema === undefined
      ? request.input
      : checkInputInline(definition.input_schema, request.input);
  return { ...request, input, inputChecked: true, concurrencyKey: await renderConcurrencyKey(rule, input) };
}

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
  /** The workflow's concurrency rule, when it has one (admission decides at insert). */
  concurrency?: ConcurrencyRule | undefined;
  /** The workflow head it was prepared from, when the caller read one (checked at insert). */
  head?: WorkflowHead | undefined;
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

/**
 * Inserts prepared executions (one statement per table for all of them) and announces the work.
 * Executions of a workflow with a `concurrency` block are admitted first (src/concurrency/): they
 * run, queue or are cancelled in this transaction. Throws `StaleWorkflowError`, writing nothing,
 * when a start's workflow head changed since it was read.
 */
export async function insertExecutions(tx: Store, prepared: PreparedExecution[]): Promise<void> {
  const [stale] = await staleStarts(tx, prepared);
  if (stale?.head) throw new StaleWorkflowError(stale.head.id);
  await insertCheckedExecutions(tx, prepared);
}

/**
 * `insertExecutions` of starts whose workflow heads were checked in this transaction already;
 * `claimed`: their root steps this process claimed as they are inserted (start-claims.ts), whose
 * `step.started` events are appended with the executions' own. Work is announced when a step
 * was left queued for any process (or a concurrency block decides at admission); the answer says
 * whether it was.
 */
export async function insertCheckedExecutions(
  tx: Store,
  prepared: PreparedExecution[],
  claimed: readonly ClaimedStep[] = [],
): Promise<boolean> {
  if (prepared.length === 0) return false;
  const admission = prepared.some((entry) => entry.concurrency) ? await admitStarts(tx, prepared) : [];
  await tx.executions.insertMany(prepared.map((entry) => entry.execution));
  await tx.steps.insertMany(prepared.flatMap((entry) => entry.steps));
  const started = prepared.filter((entry) => entry.execution.status === 'running');
  await tx.executionLog.append([
    ...started.map((entry) => startedEvent(entry.execution, entry.execution.created_at)),
    ...claimed.map((step) => stepStartedEvent(step)),
    ...admission,
  ]);
  // Work for a claim: a queued step, or admission to decide.
  const leftWork = started.some(
    (entry) => entry.concurrency !== undefined || entry.steps.some((step) => step.status === 'queued'),
  );
  if (leftWork) await tx.notify('weft_work');
  return leftWork;
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
  const rule = concurrencyRuleOf(definition);
  if (rule?.key !== undefined && request.concurrencyKey === undefined) {
    throw new Error('prepareExecution needs the rendered concurrency key: call checkStartInput first');
  }
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
    concurrency_group: rule
      ? concurrencyGroupOf(request.workspaceId, request.workflow?.id ?? null, definition.name)
      : null,
    concurrency_key: rule ? (request.concurrencyKey ?? '') : null,
    queued_at: null,
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
  return { execution, steps, concurrency: rule, head: request.workflow?.head };
}

export function startedEvent(execution: ExecutionRow, at: string) {
  return {
    workspaceId: execution.workspace_id,
    executionId: execution.id,
    type: 'workflow.started',
    at,
    data: { execution_id: execution.id, workflow_id: execution.workflow_id, status: 'running' },
  };
}
