import { startItemChild } from '../children/child-workflows.js';
import type { StepDefinition } from '../definition/definition-schema.js';
import type { CompiledWorkflow } from '../engine/compiled-workflow.js';
import { stepFailed } from '../engine/execution-error.js';
import { jsonText } from '../engine/json-text.js';
import { bytesOverCap, DEFAULT_MAX_OUTPUT_BYTES, outputTooLarge } from '../engine/output-cap.js';
import { effectiveRetry, retryDelayMs } from '../engine/scheduling-rules.js';
import { failExecution, propagate, type SettleBatch, type SettleRequest } from '../engine/settle.js';
import { nowIso } from '../ids.js';
import { settleItemSignalWait } from '../signals/signal-waits.js';
import type { ExecutionRow } from '../store/database-schema.js';
import type { ClaimedStep } from '../store/repositories/step-repository.js';
import type { StepError } from '../tasks/task-outcomes.js';
import { type ClaimedItem, claimedItem, DEFAULT_ITEM_CONCURRENCY, isItemClaim } from './for-each.js';
import { cancelUnsettledItems, itemAttemptRow, itemStartedEvent, type StepItemAttemptRow } from './item-attempts.js';
import { itemClaimBase } from './item-claims.js';

/**
 * Settling `for_each` items inside the engine's settle transaction (the execution row is locked,
 * so queueing is exact across processes): an item completes, retries, falls back, waits or
 * fails like a step attempt, and records its attempt and its `step.*` event (with `index`); then
 * its step advances: the next pending items are queued (never more than `concurrency` queued or
 * running), and once every item settled the step completes with the outputs in index order, or
 * fails when more items failed than it tolerates.
 */

/** Whether a settle request is an item's (settled here rather than as a step). */
export function isItemRequest(request: SettleRequest): boolean {
  return isItemClaim(request.step);
}

/** What settling one item attempt records besides its row: its attempt and its event. */
export interface ItemRecord {
  batch: SettleBatch;
  execution: ExecutionRow;
  item: ClaimedItem;
  endedAt: string;
  /** The attempt's end: recorded for the timeline. */
  attempt(status: string, error: string | null): void;
  /** A `step.*` event of the item (its `index` and `attempt` added). */
  event(type: string, data: Record<string, unknown>): void;
}

/** Settles item outcomes (completed ones in one statement), then advances each step they belong to once. */
export async function settleItems(batch: SettleBatch, requests: SettleRequest[]): Promise<void> {
  const touched = new Map<string, { execution: ExecutionRow; workflow: CompiledWorkflow; stepId: string }>();
  const attempts: StepItemAttemptRow[] = [];
  const worker = batch.env.worker ?? batch.env.owner;
  const touch = async (request: SettleRequest) => {
    const execution = await batch.execution(request.step.execution_id);
    if (!execution) return;
    const workflow = await batch.env.workflowOf(execution);
    touched.set(`${execution.id}/${request.step.step_id}`, { execution, workflow, stepId: request.step.step_id });
  };
  const recordOf = (execution: ExecutionRow, item: ClaimedItem, endedAt: string): ItemRecord => ({
    batch,
    execution,
    item,
    endedAt,
    attempt: (status, error) => attempts.push(itemAttemptRow(item, status, error, worker, endedAt)),
    event: (type, data) =>
      batch.event(execution, type, { index: item.item_index, attempt: item.attempts, ...data }, item.step_id),
  });
  const completed = requests.filter((request) => request.outcome.kind === 'completed');
  const done = await batch.tx.items.completeMany(
    completed.flatMap(({ step, outcome, endedAt }) =>
      isItemClaim(step) && outcome.kind === 'completed'
        ? [
            {
              executionId: step.execution_id,
              stepId: step.step_id,
              index: step.item_index,
              attempt: step.attempts,
              input: jsonText(outcome.input),
              // Measured against the cap by settleOutcomes, which kept the text.
              output: outcome.outputText ?? jsonText(outcome.output),
              at: endedAt,
            },
          ]
        : [],
    ),
    batch.env.owner,
  );
  for (const request of completed) {
    const { step, outcome } = request;
    if (!isItemClaim(step) || !done.has(`${step.execution_id}/${step.step_id}/${step.item_index}`)) continue;
    const execution = await batch.execution(step.execution_id);
    if (!execution) continue;
    const record = recordOf(execution, step, request.endedAt);
    record.attempt('completed', null);
    record.event('step.completed', {
      status: 'completed',
      output: outcome.kind === 'completed' ? outcome.output : null,
    });
    await touch(request);
  }
  for (const request of requests) {
    if (request.outcome.kind === 'completed' || !isItemClaim(request.step)) continue;
    const execution = await batch.execution(request.step.execution_id);
    if (!execution) continue;
    const workflow = await batch.env.workflowOf(execution);
    if (await settleItem(recordOf(execution, request.step, request.endedAt), workflow, request)) await touch(request);
  }
  await batch.tx.itemAttempts.record(attempts);
  for (const { execution, workflow, stepId } of touched.values()) await advanceStep(batch, execution, workflow, stepId);
}

/** Records one item's outcome; false when its guard refused it (a stale or cancelled attempt). */
async function settleItem(record: ItemRecord, workflow: CompiledWorkflow, request: SettleRequest): Promise<boolean> {
  const { outcome, endedAt } = request;
  const { batch, item } = record;
  const { tx, env } = batch;
  const key = itemKey(item);
  const guard = { statuses: ['running'], owner: env.owner, attempt: item.attempts };
  switch (outcome.kind) {
    case 'completed':
    case 'skipped':
    case 'expanded': {
      // Items never evaluate `when` nor expand: anything but an output completes with null.
      const completed = outcome.kind === 'completed';
      const patch = {
        status: 'completed',
        input: completed ? jsonText(outcome.input) : null,
        output: completed ? (outcome.outputText ?? jsonText(outcome.output)) : 'null',
        error: null,
        completed_at: endedAt,
        ...RELEASED,
      };
      if (!(await tx.items.update(key, patch, guard))) return false;
      record.attempt('completed', null);
      record.event('step.completed', { status: 'completed', output: completed ? outcome.output : null });
      return true;
    }
    case 'waiting': {
      const patch = {
        status: 'waiting',
        run_at: outcome.until,
        input: jsonText(outcome.input),
        output: outcome.outputText ?? jsonText(outcome.output),
        ...RELEASED,
      };
      const done = await tx.items.update(key, patch, guard);
      if (done) batch.wakeAt(outcome.until);
      return done;
    }
    case 'released': {
      const message = outcome.by ? `released by worker '${outcome.by}'` : 'interrupted: the process stopped';
      const error = JSON.stringify({ message, retryable: true });
      const patch = {
        status: 'queued',
        run_at: Date.now(),
        queued_at: nowIso(),
        attempt_base: item.attempt_base + 1,
        child_execution_id: null,
        ...RELEASED,
      };
      if (!(await tx.items.update(key, patch, guard))) return false;
      record.attempt(outcome.by ? 'released' : 'interrupted', error);
      record.event('step.retrying', { status: 'queued', reason: outcome.by ? 'released' : 'process_stopping' });
      batch.result.queuedElsewhere += 1;
      return true;
    }
    case 'failed':
      return settleItemFailure(record, workflow.steps.get(item.step_id), outcome);
    case 'child':
      return startItemChild(record, outcome, (error) =>
        settleItemFailure(record, workflow.steps.get(item.step_id), {
          kind: 'failed',
          input: outcome.input,
          error,
        }),
      );
    case 'signal_wait':
      return settleItemSignalWait(record, outcome);
  }
}

const RELEASED = { lease_owner: null, lease_expires_at: null };

/** The key of an item row. */
export function itemKey(item: ClaimedItem): { executionId: string; stepId: string; index: number } {
  return { executionId: item.execution_id, stepId: item.step_id, index: item.item_index };
}

/**
 * A failed item attempt: retried with the step's backoff while its budget lasts, then the
 * fallback once, then the item fails. The `step.*` events carry the item's index.
 */
export async function settleItemFailure(
  record: ItemRecord,
  definition: StepDefinition | undefined,
  outcome: Extract<SettleRequest['outcome'], { kind: 'failed' }>,
): Promise<boolean> {
  const { batch, item, endedAt } = record;
  const key = itemKey(item);
  const guard = { statuses: ['running'], owner: batch.env.owner, attempt: item.attempts };
  const error = jsonText(outcome.error);
  const input = jsonText(outcome.input);
  const now = Date.now();
  const policy = definition ? effectiveRetry(definition) : undefined;
  const usedFallback = item.used_fallback === 1;
  const inBudget = item.attempts - item.attempt_base;
  // A new attempt of a `workflow` item starts a new child.
  const fresh = { input, error, child_execution_id: null, waiting_signal: null, ...RELEASED };
  if (policy && !usedFallback && outcome.error.retryable && inBudget < policy.maxAttempts) {
    const runAt = now + retryDelayMs(policy, inBudget);
    if (!(await batch.tx.items.update(key, { status: 'queued', run_at: runAt, queued_at: nowIso(), ...fresh }, guard)))
      return false;
    record.attempt('failed', error);
    record.event('step.retrying', {
      status: 'queued',
      error: outcome.error,
      next_attempt_at: new Date(runAt).toISOString(),
    });
    batch.wakeAt(runAt);
    return true;
  }
  if (definition?.fallback && !usedFallback) {
    const type = definition.fallback.type;
    const patch = {
      status: 'queued',
      run_at: now,
      queued_at: nowIso(),
      used_fallback: 1,
      attempt_type: type,
      ...fresh,
    };
    if (!(await batch.tx.items.update(key, patch, guard))) return false;
    record.attempt('failed', error);
    record.event('step.retrying', { status: 'queued', error: outcome.error, fallback: true, fallback_type: type });
    batch.result.queuedElsewhere += 1;
    batch.wakeAt(now);
    return true;
  }
  const patch = { status: 'failed', completed_at: endedAt, ...fresh, child_execution_id: item.child_execution_id };
  if (!(await batch.tx.items.update(key, patch, guard))) return false;
  record.attempt('failed', error);
  record.event('step.failed', { status: 'failed', error: outcome.error });
  return true;
}

/**
 * Whether `failed` failed items are more than the step tolerates (neither field set: none is
 * tolerated). `total` is read only when a percent needs it.
 */
export async function beyondTolerance(
  definition: StepDefinition | undefined,
  failed: number,
  total: () => Promise<number>,
): Promise<boolean> {
  if (failed === 0) return false;
  const count = definition?.tolerated_failures;
  const percent = definition?.tolerated_failure_percent;
  if (count === undefined && percent === undefined) return true;
  if (count !== undefined && failed > count) return true;
  return percent !== undefined && failed * 100 > percent * (await total());
}

const ACTIVE = ['queued', 'running', 'waiting'];

/**
 * Moves a waiting `for_each` step on: fails it when its failures are beyond tolerance (cancelling
 * the rest of its items), completes it when every item settled, else starts (here, when this
 * process has room) or queues pending items up to its concurrency. Each count is an index range
 * of the items in a few statuses, never a scan of all of them.
 */
export async function advanceStep(
  batch: SettleBatch,
  execution: ExecutionRow,
  workflow: CompiledWorkflow,
  stepId: string,
): Promise<void> {
  const { tx } = batch;
  const definition = workflow.steps.get(stepId);
  const counts = await tx.items.countIn(execution.id, stepId, ['failed', ...ACTIVE]);
  const at = nowIso();
  const total = async () => (await tx.items.counts(execution.id, stepId)).total;
  if (await beyondTolerance(definition, counts.failed, total)) {
    await failStep(batch, execution, workflow, stepId, at);
    return;
  }
  const active = counts.queued + counts.running + counts.waiting;
  const room = (definition?.concurrency ?? DEFAULT_ITEM_CONCURRENCY) - active;
  if (room <= 0) return;
  const started = await startHere(batch, execution, definition, stepId, room, at);
  const queued = await tx.items.queueNext(execution.id, stepId, room - started, Date.now(), at);
  batch.result.queuedElsewhere += queued;
  if (active > 0 || started > 0 || queued > 0) return;
  // Nothing pending, nothing under way: every item settled.
  const output = await tx.items.outputs(execution.id, stepId);
  const text = JSON.stringify(output);
  // Each item output is under the cap; all of them together may not be.
  const cap = batch.env.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const bytes = bytesOverCap(text, cap);
  if (bytes !== undefined) {
    const error = outputTooLarge(`step output (${output.length} items)`, bytes, cap, execution.id);
    await endFailedStep(batch, execution, workflow, stepId, at, error);
    return;
  }
  const patch = { status: 'completed', output: text, error: null, completed_at: at };
  if (!(await tx.steps.update(execution.id, stepId, patch, { statuses: ['waiting'] }))) return;
  batch.event(execution, 'step.completed', { status: 'completed', output }, stepId);
  await propagate(batch, execution, workflow, stepId, 'completed');
}

/** Starts up to `limit` pending items in this process, as far as it has room; returns how many. */
async function startHere(
  batch: SettleBatch,
  execution: ExecutionRow,
  definition: StepDefinition | undefined,
  stepId: string,
  limit: number,
  at: string,
): Promise<number> {
  const { env } = batch;
  if (execution.status !== 'running' || !definition || !env.claimsType?.(definition.type)) return 0;
  const dispatched = batch.result.dispatch;
  let room = Math.min(limit, env.capacity - dispatched.length);
  if (env.workspaceRoom) {
    const here = dispatched.filter((step) => step.workspace_id === execution.workspace_id).length;
    room = Math.min(room, env.workspaceRoom(execution.workspace_id) - here);
  }
  if (room <= 0) return 0;
  const owner = env.claimOwner ?? env.owner;
  const rows = await batch.tx.items.claimPending(execution.id, stepId, room, owner, Date.now() + env.leaseMs, at);
  for (const row of rows) {
    const item = claimedItem({ ...row, previous_status: 'queued' }, itemClaimBase(row, execution));
    dispatched.push(item);
    batch.events.push(itemStartedEvent(item));
  }
  return rows.length;
}

/** Fails a step beyond its tolerance: the rest of its items are cancelled, then the execution moves on. */
async function failStep(
  batch: SettleBatch,
  execution: ExecutionRow,
  workflow: CompiledWorkflow,
  stepId: string,
  at: string,
): Promise<void> {
  const { tx } = batch;
  // Cancelling the rest changes neither the failed count nor the total, so the message comes first.
  const counts = await tx.items.counts(execution.id, stepId);
  const first = await tx.items.firstFailed(execution.id, stepId);
  const cause = first?.error ? JSON.parse(first.error) : null;
  const message = `${counts.failed} of ${counts.total} items failed (first: item ${first?.item_index}: ${cause?.message ?? 'unknown'})`;
  const error = { message, retryable: false, index: first?.item_index, cause };
  // The items under way end as cancelled attempts in the timeline; their handlers are aborted.
  const running = await cancelUnsettledItems(
    tx,
    execution.id,
    at,
    `cancelled: step '${stepId}' failed: ${message}`,
    stepId,
  );
  if (running.length > 0) batch.result.aborted.push({ executionId: execution.id, stepIds: running });
  await endFailedStep(batch, execution, workflow, stepId, at, error);
}

/** Fails a waiting `for_each` step with `error`, then fails the execution or moves it on. */
async function endFailedStep(
  batch: SettleBatch,
  execution: ExecutionRow,
  workflow: CompiledWorkflow,
  stepId: string,
  at: string,
  error: StepError,
): Promise<void> {
  const patch = { status: 'failed', error: JSON.stringify(error), completed_at: at };
  if (!(await batch.tx.steps.update(execution.id, stepId, patch, { statuses: ['waiting'] }))) return;
  batch.event(execution, 'step.failed', { status: 'failed', error }, stepId);
  if (workflow.definition.stop_on_failure === false) await propagate(batch, execution, workflow, stepId, 'failed');
  else await failExecution(batch, execution, stepFailed(stepId, undefined, error));
}

/**
 * Settles a step whose items were written: it waits on them (no lease, no timer), its failed and
 * cancelled items from an earlier run start again, and the first items are queued.
 */
export async function settleExpanded(batch: SettleBatch, step: ClaimedStep, execution: ExecutionRow): Promise<void> {
  const { tx, env } = batch;
  const workflow = await env.workflowOf(execution);
  const patch = {
    status: 'waiting',
    run_at: null,
    input: null,
    output: null,
    lease_owner: null,
    lease_expires_at: null,
  };
  const guard = { statuses: ['running'], owner: env.owner, attempt: step.attempts };
  if (!(await tx.steps.update(step.execution_id, step.step_id, patch, guard))) {
    // The step ended meanwhile (its execution was cancelled or failed): so do the items just
    // written. (A step another process claimed again after a lost lease keeps its items.)
    const now = await tx.steps.get(step.execution_id, step.step_id);
    if (now && ['cancelled', 'failed', 'skipped'].includes(now.status))
      await cancelUnsettledItems(
        tx,
        step.execution_id,
        nowIso(),
        `cancelled: step '${step.step_id}' ended (${now.status})`,
        step.step_id,
      );
    return;
  }
  await tx.items.resetUnsuccessful(step.execution_id, step.step_id, step.type);
  await advanceStep(batch, execution, workflow, step.step_id);
}
