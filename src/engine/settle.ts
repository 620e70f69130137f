import { type ChildRequest, DEFAULT_MAX_WORKFLOW_DEPTH, startChildAttempt } from '../children/child-workflows.js';
import { nowIso } from '../ids.js';
import { isItemClaim } from '../items/for-each.js';
import { isItemRequest, settleExpanded, settleItems } from '../items/item-settle.js';
import { type SignalWait, settleSignalWait } from '../signals/signal-waits.js';
import type { ExecutionRow, StepAttemptRow } from '../store/database-schema.js';
import type { NewEvent } from '../store/repositories/execution-log-repository.js';
import type { LockedCompletion } from '../store/repositories/settle-counter-repository.js';
import { type ClaimedStep, StepRepository } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import type { StepError } from '../tasks/task-outcomes.js';
import type { CompiledWorkflow, WorkflowRef } from './compiled-workflow.js';
import { ENDING_EVENTS, executionEnded } from './engine-log.js';
import { stepFailed } from './execution-error.js';
import { failExecution, finishExecution, finishExecutions } from './finish.js';
import { jsonText } from './json-text.js';
import { capOutput, DEFAULT_MAX_OUTPUT_BYTES } from './output-cap.js';
import { decideReadiness, effectiveRetry, retryDelayMs } from './scheduling-rules.js';
import { completedRows, edgesOf, settleCompleted } from './settle-completed.js';

/**
 * Settling step outcomes: one store transaction records what happened to a batch of attempts and
 * moves each execution forward (retry, fallback, dependents queued or skipped, the execution
 * finished). It returns the steps it claimed for this process so they start at once.
 */

/** What one attempt came to. */
export type StepOutcome =
  | { kind: 'completed'; input: unknown; output: unknown; outputText?: OutputText }
  | { kind: 'failed'; input: unknown; error: StepError }
  | { kind: 'skipped' }
  | { kind: 'waiting'; input: unknown; until: number; output: unknown; outputText?: OutputText }
  /** A `for_each` step whose items were written: it waits on them (src/items/). */
  | { kind: 'expanded'; total: number }
  /** A `workflow` attempt: the child to start (src/children/). */
  | ChildRequest
  /** A `wait_for_signal` attempt: consume a signal or wait for one (src/signals/). */
  | SignalWait
  /**
   * Interrupted by a shutdown (or handed back by a worker): back to the queue without using up
   * the retry budget. `by` names the worker that released it; absent, the process stopped.
   */
  | { kind: 'released'; by?: string };

/** The output as the store writes it, set once measured against the cap (output-cap.ts). */
type OutputText = string | null;

/** One outcome to settle. */
export interface SettleRequest {
  step: ClaimedStep;
  outcome: StepOutcome;
  endedAt: string;
}

/** An attempt row before its outcome is known. */
type AttemptBase = Omit<StepAttemptRow, 'status' | 'error'>;

/** What the engine needs to settle. */
export interface SettleEnvironment {
  /** Lease owner the settled attempts must still be held by. */
  owner: string;
  /** Who ran the attempts, for the attempt log (defaults to `owner`). */
  worker?: string;
  /** Lease owner of steps claimed to run here (defaults to `owner`; differs when settling a worker's task). */
  claimOwner?: string;
  leaseMs: number;
  /** How many claimed steps this process may start now. */
  capacity: number;
  /** How many more steps of a workspace this process may start now (its share of the slots); unbounded when absent. */
  workspaceRoom?: (workspaceId: string) => number;
  /** Whether this process's engine runs steps of a type (the rest wait for external workers). */
  claimsType?: (type: string) => boolean;
  /** WEFT_MAX_WORKFLOW_DEPTH (default 10). */
  maxWorkflowDepth?: number;
  /** WEFT_MAX_OUTPUT_BYTES (default 1 MiB): larger outputs fail their attempt (output-cap.ts). */
  maxOutputBytes?: number;
  workflowOf(execution: WorkflowRef): Promise<CompiledWorkflow>;
}

/** What a settle transaction decided, acted on after commit. */
export interface SettleResult {
  /** Steps claimed for this process, to run now. */
  dispatch: ClaimedStep[];
  /** Earliest time a retry or timer becomes due. */
  wakeAt: number | undefined;
  /** Steps cancelled while running somewhere (executions that failed), by execution. */
  aborted: Array<{ executionId: string; stepIds: string[] }>;
  /** Steps queued but not claimed here (for other processes or a later pump). */
  queuedElsewhere: number;
}

/** One transaction's view: executions touched so far and events to append. */
class SettleBatch {
  readonly executions = new Map<string, ExecutionRow>();
  readonly events: NewEvent[] = [];
  readonly attempts: StepAttemptRow[] = [];
  readonly result: SettleResult = { dispatch: [], wakeAt: undefined, aborted: [], queuedElsewhere: 0 };

  constructor(
    readonly tx: Store,
    readonly env: SettleEnvironment,
  ) {}

  async execution(id: string): Promise<ExecutionRow | undefined> {
    let execution = this.executions.get(id);
    if (!execution) {
      execution = await this.tx.executions.getById(id, true);
      if (execution) this.executions.set(id, execution);
    }
    return execution;
  }

  event(execution: ExecutionRow, type: string, data: Record<string, unknown>, stepId?: string): void {
    const at = nowIso();
    this.events.push({
      workspaceId: execution.workspace_id,
      executionId: execution.id,
      type,
      stepId,
      at,
      data: {
        execution_id: execution.id,
        workflow_id: execution.workflow_id,
        ...(stepId ? { step_id: stepId } : {}),
        ...data,
      },
    });
    // An ending tells the process log and metrics how long the execution ran (engine-log.ts).
    const ended = ENDING_EVENTS.get(type);
    if (ended) this.tx.note(executionEnded(execution, ended, at, data.error));
  }

  wakeAt(at: number): void {
    this.result.wakeAt = this.result.wakeAt === undefined ? at : Math.min(this.result.wakeAt, at);
  }
}

/** Settles a batch of outcomes in the given transaction. */
export async function settleOutcomes(
  tx: Store,
  requests: SettleRequest[],
  env: SettleEnvironment,
): Promise<SettleResult> {
  const batch = new SettleBatch(tx, env);
  // Every output is measured here, once, whoever produced it (a handler, a worker, a child).
  const cap = env.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  // Executions are locked in one order (by id) before their steps, so concurrent settles,
  // cancels and recoveries on PostgreSQL cannot deadlock.
  const ordered = requests
    .map((request) => withCappedOutput(request, cap))
    .sort((a, b) =>
      a.step.execution_id < b.step.execution_id ? -1 : a.step.execution_id > b.step.execution_id ? 1 : 0,
    );
  const ids = [...new Set(ordered.map((request) => request.step.execution_id))];
  // Items of `for_each` steps settle on their own rows, then move their step on (src/items/).
  const items = ordered.filter(isItemRequest);
  const steps = items.length === 0 ? ordered : ordered.filter((request) => !isItemRequest(request));
  const completed = steps.filter((request) => request.outcome.kind === 'completed');
  // The common batch, completed attempts only: the lock and the completion are one statement.
  let folded: LockedCompletion | undefined;
  if (completed.length === ordered.length) {
    const edges = await edgesOf(completed, env);
    folded = await tx.settleCounters.lockAndComplete(ids, completedRows(completed), env.owner, edges);
    for (const execution of folded.executions) batch.executions.set(execution.id, execution);
  } else {
    for (const execution of await tx.executions.getManyLocked(ids)) batch.executions.set(execution.id, execution);
  }
  if (items.length > 0) await settleItems(batch, items);
  if (completed.length > 0) await settleCompleted(batch, completed, folded);
  for (const request of steps) if (request.outcome.kind !== 'completed') await settleOne(batch, request);
  await tx.executionLog.recordAndAppend(batch.attempts, batch.events);
  return batch.result;
}

/** A request whose output was measured against the cap (or failed for it). */
export function withCappedOutput(request: SettleRequest, cap: number): SettleRequest {
  const { step, outcome } = request;
  const what = isItemClaim(step) ? `item ${step.item_index} output` : 'step output';
  const capped = capOutput(outcome, cap, what, step.execution_id);
  return capped === outcome ? request : { ...request, outcome: capped };
}

async function settleOne(batch: SettleBatch, { step, outcome, endedAt }: SettleRequest): Promise<void> {
  const { tx, env } = batch;
  const execution = await batch.execution(step.execution_id);
  if (!execution) return;
  const workflow = await env.workflowOf(execution);
  const guard = { statuses: ['running'], owner: env.owner, attempt: step.attempts };
  const released = { lease_owner: null, lease_expires_at: null };
  const key = { execution: step.execution_id, step: step.step_id };
  const attempt: AttemptBase = {
    execution_id: step.execution_id,
    step_id: step.step_id,
    attempt: step.attempts,
    workspace_id: step.workspace_id,
    type: step.attempt_type,
    used_fallback: step.used_fallback,
    worker: env.worker ?? env.owner,
    queued_at: step.queued_at,
    started_at: step.started_at,
    ended_at: endedAt,
  };

  if (outcome.kind === 'waiting') {
    const patch = {
      status: 'waiting',
      run_at: outcome.until,
      input: jsonText(outcome.input),
      output: outcome.outputText ?? jsonText(outcome.output),
      ...released,
    };
    if (await tx.steps.update(key.execution, key.step, patch, guard)) batch.wakeAt(outcome.until);
    return;
  }
  if (outcome.kind === 'child') {
    await startChildAttempt({
      batch,
      execution,
      step,
      request: outcome,
      maxDepth: env.maxWorkflowDepth ?? DEFAULT_MAX_WORKFLOW_DEPTH,
      fail: (error) =>
        settleFailure(
          batch,
          execution,
          workflow,
          step,
          { kind: 'failed', input: outcome.input, error },
          endedAt,
          attempt,
        ),
    });
    return;
  }
  if (outcome.kind === 'signal_wait') {
    await settleSignalWait(batch, step, outcome, endedAt);
    return;
  }
  if (outcome.kind === 'expanded') {
    await settleExpanded(batch, step, execution);
    return;
  }
  if (outcome.kind === 'released') {
    const message = outcome.by ? `released by worker '${outcome.by}'` : 'interrupted: the process stopped';
    const error = JSON.stringify({ message, retryable: true });
    const patch = {
      status: 'queued',
      run_at: Date.now(),
      queued_at: nowIso(),
      attempt_base: step.attempt_base + 1,
      error,
      ...released,
    };
    if (!(await tx.steps.update(key.execution, key.step, patch, guard))) return;
    batch.attempts.push({ ...attempt, status: outcome.by ? 'released' : 'interrupted', error });
    batch.event(
      execution,
      'step.retrying',
      { status: 'queued', attempt: step.attempts, reason: outcome.by ? 'released' : 'process_stopping' },
      step.step_id,
    );
    batch.result.queuedElsewhere += 1;
    return;
  }
  if (outcome.kind === 'skipped') {
    const patch = {
      status: 'skipped',
      skip_reason: 'condition',
      completed_at: endedAt,
      attempts: step.attempts - 1,
      ...released,
    };
    if (!(await tx.steps.update(key.execution, key.step, patch, guard))) return;
    batch.event(execution, 'step.skipped', { status: 'skipped', reason: 'condition' }, step.step_id);
    await propagate(batch, execution, workflow, step.step_id, 'skipped');
    return;
  }
  // Completed outcomes are settled set-wise (settle-completed.ts); what is left is a failure.
  if (outcome.kind === 'completed') return;
  await settleFailure(batch, execution, workflow, step, outcome, endedAt, attempt);
}

async function settleFailure(
  batch: SettleBatch,
  execution: ExecutionRow,
  workflow: CompiledWorkflow,
  step: ClaimedStep,
  outcome: Extract<StepOutcome, { kind: 'failed' }>,
  endedAt: string,
  attempt: AttemptBase,
): Promise<void> {
  const { tx, env } = batch;
  const definition = workflow.steps.get(step.step_id);
  const released = { lease_owner: null, lease_expires_at: null };
  const guard = { statuses: ['running'], owner: env.owner, attempt: step.attempts };
  const error = jsonText(outcome.error);
  const now = Date.now();
  const policy = definition ? effectiveRetry(definition) : undefined;
  const usedFallback = step.used_fallback === 1;
  const attemptsInBudget = step.attempts - step.attempt_base;
  let patch: Record<string, unknown>;
  let eventType: string;
  let eventData: Record<string, unknown>;
  if (policy && !usedFallback && outcome.error.retryable && attemptsInBudget < policy.maxAttempts) {
    const runAt = now + retryDelayMs(policy, attemptsInBudget);
    patch = {
      status: 'queued',
      run_at: runAt,
      queued_at: nowIso(),
      input: jsonText(outcome.input),
      error,
      // A new attempt of a `workflow` step starts a new child.
      child_execution_id: null,
      ...released,
    };
    eventType = 'step.retrying';
    eventData = {
      status: 'queued',
      attempt: step.attempts,
      error: outcome.error,
      next_attempt_at: new Date(runAt).toISOString(),
    };
    batch.wakeAt(runAt);
  } else if (definition?.fallback && !usedFallback && definition.for_each === undefined) {
    // (A `for_each` step's fallback runs per item, src/items/, never for the step itself.)
    patch = {
      status: 'queued',
      run_at: now,
      queued_at: nowIso(),
      used_fallback: 1,
      attempt_type: definition.fallback.type,
      input: jsonText(outcome.input),
      error,
      child_execution_id: null,
      ...released,
    };
    eventType = 'step.retrying';
    eventData = {
      status: 'queued',
      attempt: step.attempts,
      error: outcome.error,
      fallback: true,
      fallback_type: definition.fallback.type,
    };
    batch.wakeAt(now);
  } else {
    patch = { status: 'failed', input: jsonText(outcome.input), error, completed_at: endedAt, ...released };
    eventType = 'step.failed';
    eventData = { status: 'failed', error: outcome.error };
  }
  if (!(await tx.steps.update(step.execution_id, step.step_id, patch, guard))) return;
  batch.attempts.push({ ...attempt, status: 'failed', error });
  batch.event(execution, eventType, eventData, step.step_id);
  if (patch.status === 'queued') {
    batch.result.queuedElsewhere += 1;
    return;
  }
  if (workflow.definition.stop_on_failure === false) {
    await propagate(batch, execution, workflow, step.step_id, 'failed');
  } else {
    await failExecution(batch, execution, stepFailed(step.step_id, step.attempts, outcome.error));
  }
}

/** Counts a settled step on its dependents, queues or skips them, and finishes the execution at the end. */
export async function propagate(
  batch: SettleBatch,
  execution: ExecutionRow,
  workflow: CompiledWorkflow,
  stepId: string,
  status: 'completed' | 'failed' | 'skipped',
): Promise<void> {
  const { tx } = batch;
  const ready: string[] = [];
  let settled = 1;
  const pending: Array<{ id: string; status: string }> = [{ id: stepId, status }];
  const at = nowIso();
  while (pending.length > 0) {
    const current = pending.shift();
    if (!current) break;
    const dependents = workflow.dependents.get(current.id) ?? [];
    const completed = current.status === 'completed' ? 1 : 0;
    const counters = await tx.steps.countSettledDependencies(
      dependents.map((stepId) => ({ executionId: execution.id, stepId, settled: 1, completed })),
    );
    for (const counter of counters) {
      const decision = decideReadiness(workflow.steps.get(counter.step_id)?.run_if, counter);
      if (decision === 'ready') ready.push(counter.step_id);
      if (decision !== 'skip') continue;
      const skipped = { status: 'skipped', skip_reason: 'dependency', completed_at: at };
      if (await tx.steps.update(execution.id, counter.step_id, skipped, { statuses: ['pending'] })) {
        settled += 1;
        batch.event(execution, 'step.skipped', { status: 'skipped', reason: 'dependency' }, counter.step_id);
        pending.push({ id: counter.step_id, status: 'skipped' });
      }
    }
  }
  await queueReady(batch, execution, ready);
  const [counts] = await tx.executions.countSettledMany([{ id: execution.id, settled }]);
  if (counts && counts.steps_unsettled <= 0) await finishExecution(batch, execution, workflow);
}

/** Queues ready steps of one execution and claims for this process as many as it can start now. */
export function queueReady(batch: SettleBatch, execution: ExecutionRow, ready: string[]): Promise<void> {
  return startReady(
    batch,
    ready.map((stepId) => ({ execution, stepId })),
  );
}

/**
 * Claims ready steps of running executions for this process, as far as it has room (one
 * statement for all of them), and queues the rest for whichever process claims them.
 */
export async function startReady(
  batch: SettleBatch,
  ready: Array<{ execution: ExecutionRow; stepId: string }>,
): Promise<void> {
  if (ready.length === 0) return;
  const { tx, env } = batch;
  let room = Math.max(0, env.capacity - batch.result.dispatch.length);
  const workspaceRooms = new Map<string, number>();
  const roomOf = (workspaceId: string): number => {
    if (!env.workspaceRoom) return room;
    let left = workspaceRooms.get(workspaceId);
    if (left === undefined) {
      const claimedHere = batch.result.dispatch.filter((step) => step.workspace_id === workspaceId).length;
      left = env.workspaceRoom(workspaceId) - claimedHere;
      workspaceRooms.set(workspaceId, left);
    }
    return Math.min(room, left);
  };
  const mine: Array<{ executionId: string; stepId: string }> = [];
  const queued = new Map<string, string[]>();
  for (const { execution, stepId } of ready) {
    const hasRoom = roomOf(execution.workspace_id) > 0;
    const type = hasRoom ? (await env.workflowOf(execution)).steps.get(stepId)?.type : undefined;
    if (execution.status === 'running' && hasRoom && type !== undefined && env.claimsType?.(type)) {
      mine.push({ executionId: execution.id, stepId });
      room -= 1;
      const left = workspaceRooms.get(execution.workspace_id);
      if (left !== undefined) workspaceRooms.set(execution.workspace_id, left - 1);
    } else {
      queued.set(execution.id, [...(queued.get(execution.id) ?? []), stepId]);
    }
  }
  const now = Date.now();
  const at = nowIso();
  for (const [executionId, stepIds] of queued) await tx.steps.queue(executionId, stepIds, now, at);
  batch.result.queuedElsewhere += ready.length - mine.length;
  const executions = new Map(ready.map(({ execution }) => [execution.id, execution]));
  for (const row of await tx.steps.claimPendingMany(mine, env.claimOwner ?? env.owner, now + env.leaseMs, at)) {
    const execution = executions.get(row.execution_id);
    if (!execution) continue;
    const claimed = StepRepository.claimed(row, execution);
    batch.result.dispatch.push(claimed);
    batch.event(execution, 'step.started', { status: 'running', attempt: claimed.attempts }, claimed.step_id);
  }
}

export { failExecution, finishExecution, finishExecutions, SettleBatch };
