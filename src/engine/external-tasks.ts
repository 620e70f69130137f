import { randomBytes } from 'node:crypto';
import { WeftError } from '../errors.js';
import { nowIso } from '../ids.js';
import { claimedItem, isItemClaim } from '../items/for-each.js';
import { itemStartedEvent } from '../items/item-attempts.js';
import { claimItems, itemClaimBase } from '../items/item-claims.js';
import type { StepItemRow } from '../items/item-repository.js';
import { itemKey } from '../items/item-settle.js';
import { SecretRedactor } from '../secrets/secret-redaction.js';
import { markedNames } from '../secrets/secret-references.js';
import type { ExecutionRow, ExecutionStepRow } from '../store/database-schema.js';
import { type ClaimedStep, StepRepository } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import type { StepError } from '../tasks/task-outcomes.js';
import type { Engine } from './engine.js';
import { jsonText, parseJsonText } from './json-text.js';
import { byteCount, capOutput, isOutputTooLarge, outputTooLargeMessage } from './output-cap.js';
import type { SettleRequest, StepOutcome } from './settle.js';
import { stepStartedEvent } from './step-events.js';
import { prepareAttempt } from './step-runner.js';
import {
  decodeTaskId,
  encodeTaskId,
  nonceOfOwner,
  TASK_OWNER_PREFIX,
  type TaskRef,
  taskOwner,
  workerOfOwner,
} from './task-ids.js';
import { TaskWaiters } from './task-waiters.js';

export { TASK_OWNER_PREFIX, workerOfOwner } from './task-ids.js';

/**
 * External workers (SPEC §4–§5): steps whose type has no in-process handler wait in the queue
 * until a worker polls for their type. A poll claims them under a lease (the same claim as the
 * engine's, owned by `task:<nonce>:<worker_id>`), renders their input, and hands them out as
 * tasks; heartbeats extend the lease; complete, fail and release settle them through the engine
 * exactly like an in-process outcome. A task id names its execution, step, attempt and claim, so
 * a call on a lease that was lost (expired and taken back, reset, cancelled) is a 409 that
 * changes nothing.
 */

/** Lease of a type that was never declared (SPEC §4 default). */
export const DEFAULT_LEASE_SECONDS = 30;
/** Longest long poll (SPEC §5). */
export const MAX_WAIT_SECONDS = 30;

/** A task as a worker sees it. */
export interface TaskView {
  id: string;
  execution_id: string;
  step_id: string;
  workflow_id: string | null;
  type: string;
  input: unknown;
  /** The item of a `for_each` step, or null for a step. */
  index: number | null;
  attempt: number;
  lease_expires_at: string;
  lease_seconds: number;
}

/** What a poll asks for. */
export interface PollRequest {
  workerId: string;
  /** The API key polling: its tasks' leases name it (see `holdsTaskOf`). */
  keyId?: string;
  types: readonly string[];
  waitSeconds: number;
  maxTasks: number;
}

/** The settled state a complete, fail or release call leaves the step in. */
export interface TaskSettled {
  id: string;
  execution_id: string;
  step_id: string;
  status: string;
}

/** The task routes' operations, for one process. */
export class ExternalTasks {
  readonly #waiters: TaskWaiters;

  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
  ) {
    this.#waiters = new TaskWaiters((listener) => engine.onWork(listener));
  }

  /**
   * Claims up to `maxTasks` due steps of `types` in the workspace; when none is due, waits up to
   * `waitSeconds` for one to be queued (woken by the store's announcements, and by a timer for a
   * retry that becomes due) or for `signal` (the client went away).
   */
  async poll(workspaceId: string, request: PollRequest, signal?: AbortSignal): Promise<TaskView[]> {
    const deadline = Date.now() + Math.min(request.waitSeconds, MAX_WAIT_SECONDS) * 1000;
    for (;;) {
      // Taken before the claim: an announcement during the claim is not missed.
      const generation = this.#waiters.generation;
      const tasks = await this.#claim(workspaceId, request);
      if (tasks.length > 0 && signal?.aborted) {
        // Nobody will receive them: hand them back now rather than lose an attempt to expiry.
        await Promise.all(tasks.map((task) => this.release(workspaceId, task.id)));
        return [];
      }
      if (tasks.length > 0 || signal?.aborted || Date.now() >= deadline) return tasks;
      const filter = { types: request.types, workspaceId };
      const [stepDue, itemDue] = await Promise.all([
        this.store.steps.nextDueAt(filter),
        this.store.items.nextDueAt(filter),
      ]);
      const nextDue = stepDue === undefined ? itemDue : itemDue === undefined ? stepDue : Math.min(stepDue, itemDue);
      await this.#waiters.waitForWork(generation, Math.min(deadline, nextDue ?? deadline), signal);
      if (signal?.aborted || this.#waiters.closed) return [];
    }
  }

  async #claim(workspaceId: string, request: PollRequest): Promise<TaskView[]> {
    const declared = await this.store.taskTypes.leaseSeconds(workspaceId, request.types);
    const byLease = new Map<number, string[]>();
    for (const type of new Set(request.types)) {
      const seconds = declared.get(type) ?? DEFAULT_LEASE_SECONDS;
      byLease.set(seconds, [...(byLease.get(seconds) ?? []), type]);
    }
    const owner = taskOwner(randomBytes(6).toString('base64url'), request.keyId, request.workerId);
    const claimed: Array<{ step: ClaimedStep; leaseSeconds: number }> = [];
    try {
      for (const [leaseSeconds, types] of byLease) {
        const limit = request.maxTasks - claimed.length;
        if (limit <= 0) break;
        const now = Date.now();
        const steps = await this.store.transaction(async (tx) => {
          const filter = { types, workspaceId };
          const until = now + leaseSeconds * 1000;
          const rows = await tx.steps.claimDue(owner, now, until, nowIso(), limit, filter);
          await tx.executionLog.append(rows.map((step) => stepStartedEvent(step, request.workerId)));
          // Room left goes to the items of `for_each` steps of these types (src/items/).
          if (rows.length >= limit) return rows;
          const items = await claimItems(tx, owner, now, until, nowIso(), limit - rows.length, filter);
          await tx.executionLog.append(
            items
              .filter((item) => item.previous_status === 'queued')
              .map((item) => itemStartedEvent(item, request.workerId)),
          );
          return [...rows, ...items];
        });
        claimed.push(...steps.map((step) => ({ step, leaseSeconds })));
      }
      if (claimed.length === 0) return [];
      return await this.#handOut(owner, request.workerId, claimed);
    } catch (error) {
      // Claimed but never handed out: give them back now rather than lose an attempt each to
      // lease expiry. If that fails too, expiry is the fallback.
      await this.#giveBack(owner, request.workerId, claimed).catch((again: unknown) => {
        throw new AggregateError([error, again], 'a poll failed and its claimed tasks could not be released');
      });
      throw error;
    }
  }

  /** Releases claimed steps still held by `owner` (a poll that failed part-way). */
  async #giveBack(
    owner: string,
    workerId: string,
    claimed: Array<{ step: ClaimedStep; leaseSeconds: number }>,
  ): Promise<void> {
    if (claimed.length === 0) return;
    await this.engine.settleLeased(async () => ({
      requests: claimed.map(({ step }) => ({
        step,
        outcome: { kind: 'released', by: workerId } as StepOutcome,
        endedAt: nowIso(),
      })),
      value: undefined,
      owner,
      worker: workerId,
    }));
  }

  /**
   * Renders each claimed attempt's input as the engine would; an attempt that skips (`when`) or
   * cannot render is settled here and not handed out. The input is recorded on the step, and a
   * step's `timeout_seconds` caps the lease.
   */
  async #handOut(
    owner: string,
    workerId: string,
    claimed: Array<{ step: ClaimedStep; leaseSeconds: number }>,
  ): Promise<TaskView[]> {
    const runs: Array<{
      step: ClaimedStep;
      input: unknown;
      view: unknown;
      leaseExpiresAt: number;
      leaseSeconds: number;
    }> = [];
    const settle: SettleRequest[] = [];
    for (const { step, leaseSeconds } of claimed) {
      let outcome: StepOutcome;
      try {
        const workflow = await this.engine.workflowOf({ ...step, id: step.execution_id });
        const prepared = await prepareAttempt(step, workflow, { store: this.store, secrets: this.engine.secrets });
        if (prepared.kind === 'run') {
          const leaseExpiresAt = Math.min(
            step.lease_expires_at ?? Date.now(),
            attemptDeadline(step, prepared.timeoutSeconds) ?? Number.POSITIVE_INFINITY,
          );
          // The worker gets the input with its secrets; the step records it with them redacted.
          runs.push({ step, input: prepared.input, view: prepared.view, leaseExpiresAt, leaseSeconds });
          continue;
        }
        outcome = prepared;
      } catch (error) {
        // The database (or the definition) could not be read: the task goes back to the queue
        // without using up an attempt, rather than being handed out half-prepared.
        outcome = { kind: 'released', by: workerId };
        if (!this.store.isUnavailableError(error)) {
          outcome = { kind: 'failed', input: null, error: { message: (error as Error).message, retryable: true } };
        }
      }
      settle.push({ step, outcome, endedAt: nowIso() });
    }
    const handed = await this.engine.settleLeased(async (tx) => {
      const kept: typeof runs = [];
      for (const run of runs) {
        const patch = { input: jsonText(run.view), lease_expires_at: run.leaseExpiresAt };
        const guard = { statuses: ['running'], owner, attempt: run.step.attempts };
        const recorded = isItemClaim(run.step)
          ? await tx.items.update(itemKey(run.step), patch, guard)
          : await tx.steps.update(run.step.execution_id, run.step.step_id, patch, guard);
        if (recorded) kept.push(run);
      }
      return { requests: settle, value: kept, owner, worker: workerId };
    });
    return handed.map(({ step, input, leaseExpiresAt, leaseSeconds }) => ({
      id: encodeTaskId({
        executionId: step.execution_id,
        stepId: step.step_id,
        attempt: step.attempts,
        nonce: nonceOfOwner(owner),
        index: isItemClaim(step) ? step.item_index : undefined,
      }),
      execution_id: step.execution_id,
      step_id: step.step_id,
      workflow_id: step.workflow_id,
      type: step.attempt_type,
      input,
      index: isItemClaim(step) ? step.item_index : null,
      attempt: step.attempts,
      lease_expires_at: new Date(leaseExpiresAt).toISOString(),
      lease_seconds: leaseSeconds,
    }));
  }

  /**
   * Extends a task's lease by its type's `lease_seconds` (never past the attempt's timeout).
   * Answers `cancel_requested` once the step was cancelled with its execution; a lost lease is a
   * 409.
   */
  async heartbeat(
    workspaceId: string,
    taskId: string,
  ): Promise<{ lease_expires_at: string; cancel_requested: boolean }> {
    const { ref, row, execution } = await this.#find(workspaceId, taskId);
    if (isCancelledAttempt(row, ref)) {
      return { lease_expires_at: new Date(row.lease_expires_at ?? Date.now()).toISOString(), cancel_requested: true };
    }
    const now = Date.now();
    if (!holdsLease(row, ref, now)) throw leaseLost(taskId, row, ref);
    const owner = row.lease_owner ?? '';
    const leaseSeconds =
      (await this.store.taskTypes.leaseSeconds(workspaceId, [row.attempt_type])).get(row.attempt_type) ??
      DEFAULT_LEASE_SECONDS;
    const workflow = await this.engine.workflowOf(execution);
    const definition = workflow.steps.get(row.step_id);
    const timeoutSeconds =
      row.used_fallback === 1 && definition?.fallback
        ? (definition.fallback.timeout_seconds ?? definition.timeout_seconds ?? null)
        : (definition?.timeout_seconds ?? null);
    const until = Math.min(now + leaseSeconds * 1000, attemptDeadline(row, timeoutSeconds) ?? Number.POSITIVE_INFINITY);
    const guard = { statuses: ['running'], owner, attempt: ref.attempt, leaseValidAt: now };
    const renewed =
      ref.index === undefined
        ? await this.store.steps.update(row.execution_id, row.step_id, { lease_expires_at: until }, guard)
        : await this.store.items.update(keyOf(ref), { lease_expires_at: until }, guard);
    if (!renewed) {
      // Lost to a cancel, an expiry sweep or a reset since it was read.
      const again = await this.#row(this.store, ref);
      if (again && isCancelledAttempt(again, ref)) {
        return { lease_expires_at: new Date(now).toISOString(), cancel_requested: true };
      }
      throw leaseLost(taskId, again ?? row, ref);
    }
    return { lease_expires_at: new Date(until).toISOString(), cancel_requested: false };
  }

  /**
   * Completes a task with its output. An output over WEFT_MAX_OUTPUT_BYTES fails the attempt
   * without retry (committed) and then answers 413 `OUTPUT_TOO_LARGE`, so the worker learns why.
   */
  async complete(workspaceId: string, taskId: string, output: unknown): Promise<TaskSettled> {
    let refused: StepError | undefined;
    const settled = await this.#settle(workspaceId, taskId, async (row, tx) => {
      const redacted = (await this.#redactorOf(tx, workspaceId, row)).value(output === undefined ? null : output);
      const what = 'item_index' in row ? `item ${row.item_index} output` : 'step output';
      // Measured here, on what the store writes, so the settle does not measure it again.
      const outcome = capOutput(
        { kind: 'completed', input: parseJsonText(row.input), output: redacted },
        this.engine.maxOutputBytes,
        what,
        row.execution_id,
      );
      if (outcome.kind === 'failed' && isOutputTooLarge(outcome.error)) refused = outcome.error;
      return outcome;
    });
    if (refused) {
      const detail = `${refused.message}; the attempt failed without retry, the step is now '${settled.status}'`;
      throw new WeftError('OUTPUT_TOO_LARGE', detail);
    }
    return settled;
  }

  /**
   * Fails a task whose `complete` body was larger than its route accepts (it never reached the
   * route): the output is over the cap whatever it holds. Unknown tasks and lost leases change nothing.
   */
  async refuseOversizedComplete(workspaceId: string, taskId: string, bodyBytes: number | undefined): Promise<void> {
    const size = bodyBytes === undefined ? 'larger than its route accepts' : `${byteCount(bodyBytes)} bytes`;
    const message = outputTooLargeMessage(
      `the complete body is ${size}`,
      this.engine.maxOutputBytes,
      decodeTaskId(taskId)?.executionId ?? '{id}',
    );
    await this.fail(workspaceId, taskId, { message, retryable: false, code: 'OUTPUT_TOO_LARGE' }).catch(
      (error: unknown) => {
        if (!(error instanceof WeftError)) throw error;
      },
    );
  }

  /** Fails a task's attempt: retried per the step's policy when retryable, then the fallback. */
  fail(workspaceId: string, taskId: string, error: StepError): Promise<TaskSettled> {
    return this.#settle(workspaceId, taskId, async (row, tx) => ({
      kind: 'failed',
      input: parseJsonText(row.input),
      error: (await this.#redactorOf(tx, workspaceId, row)).error(error),
    }));
  }

  /**
   * Hides, in what a worker answers, the secrets its task's input carried: the recorded input
   * names them (`[redacted:NAME]`), so a task without secrets costs no query.
   */
  async #redactorOf(tx: Store, workspaceId: string, row: LeasedRow): Promise<SecretRedactor> {
    const names = markedNames(row.input);
    if (names.length === 0) return new SecretRedactor(new Map());
    return new SecretRedactor(await this.engine.secrets.resolve(tx, workspaceId, names, { skipUnreadable: true }));
  }

  /** Hands a task back to the queue without using up an attempt (a worker shutting down). */
  release(workspaceId: string, taskId: string): Promise<TaskSettled> {
    return this.#settle(workspaceId, taskId, (row) => ({ kind: 'released', by: workerOfOwner(row.lease_owner ?? '') }));
  }

  async #settle(
    workspaceId: string,
    taskId: string,
    outcomeOf: (row: LeasedRow, tx: Store) => StepOutcome | Promise<StepOutcome>,
  ): Promise<TaskSettled> {
    const ref = decodeTaskId(taskId);
    if (!ref) throw taskNotFound(taskId);
    const outcome = await this.engine.settleLeased(async (tx) => {
      // The execution is locked before its step, as in every settle; then the lease is checked.
      const execution = await tx.executions.getById(ref.executionId, true);
      const row = execution ? await this.#row(tx, ref) : undefined;
      if (!execution || !row || execution.workspace_id !== workspaceId || row.attempts < ref.attempt) {
        throw taskNotFound(taskId);
      }
      if (!holdsLease(row, ref, Date.now())) throw leaseLost(taskId, row, ref);
      const owner = row.lease_owner ?? '';
      const outcome = await outcomeOf(row, tx);
      const step =
        'item_index' in row
          ? claimedItem({ ...row, previous_status: 'running' }, itemClaimBase(row, execution))
          : StepRepository.claimed(row, execution);
      return { requests: [{ step, outcome, endedAt: nowIso() }], value: outcome, owner, worker: workerOfOwner(owner) };
    });
    // A completed attempt is completed; a failure may have been queued for a retry or failed.
    const status =
      outcome.kind === 'completed' ? 'completed' : ((await this.#row(this.store, ref))?.status ?? 'unknown');
    return { id: taskId, execution_id: ref.executionId, step_id: ref.stepId, status };
  }

  /** The task's step and execution in the workspace, or a 404. */
  async #find(workspaceId: string, taskId: string): Promise<{ ref: TaskRef; row: LeasedRow; execution: ExecutionRow }> {
    const ref = decodeTaskId(taskId);
    if (!ref) throw taskNotFound(taskId);
    const execution = await this.store.executions.get(workspaceId, ref.executionId);
    const row = execution ? await this.#row(this.store, ref) : undefined;
    if (!execution || !row || row.workspace_id !== workspaceId || row.attempts < ref.attempt) {
      throw taskNotFound(taskId);
    }
    return { ref, row, execution };
  }

  /** The leased row a task names: its step's, or its item's under `for_each`. */
  async #row(store: Store, ref: TaskRef): Promise<LeasedRow | undefined> {
    return ref.index === undefined ? store.steps.get(ref.executionId, ref.stepId) : store.items.get(keyOf(ref));
  }

  /**
   * True when the API key `keyId` holds an unexpired task (a step's or an item's) of the execution:
   * what a worker key needs to put the execution's artifacts (SPEC §3.1).
   */
  async holdsTaskOf(executionId: string, keyId: string): Promise<boolean> {
    const ownerLike = `${TASK_OWNER_PREFIX}%@${keyId}:%`;
    const now = Date.now();
    return (
      (await this.store.leases.heldInExecution(executionId, ownerLike, now)) ||
      (await this.store.itemLeases.heldInExecution(executionId, ownerLike, now))
    );
  }

  /** Stops waiting polls (server shutdown); they answer with no tasks. */
  close(): void {
    this.#waiters.close();
  }
}

/** What a task's lease lives on: a step row, or an item row of a `for_each` step. */
type LeasedRow = ExecutionStepRow | StepItemRow;

function keyOf(ref: TaskRef): { executionId: string; stepId: string; index: number } {
  return { executionId: ref.executionId, stepId: ref.stepId, index: ref.index ?? 0 };
}

function holdsLease(row: LeasedRow, ref: TaskRef, now: number): boolean {
  return (
    row.status === 'running' &&
    row.attempts === ref.attempt &&
    nonceOfOwner(row.lease_owner ?? '') === ref.nonce &&
    Number(row.lease_expires_at ?? 0) >= now
  );
}

/** The step was cancelled (with its execution) while this attempt held it. */
function isCancelledAttempt(row: LeasedRow, ref: TaskRef): boolean {
  return row.status === 'cancelled' && row.attempts === ref.attempt;
}

/** When the attempt's `timeout_seconds` runs out, if it has one. */
function attemptDeadline(
  step: Pick<ExecutionStepRow, 'started_at'>,
  timeoutSeconds: number | null | undefined,
): number | undefined {
  if (timeoutSeconds === null || timeoutSeconds === undefined || step.started_at === null) return undefined;
  return Date.parse(step.started_at) + timeoutSeconds * 1000;
}

function taskNotFound(taskId: string): WeftError {
  return new WeftError('NOT_FOUND', `task '${taskId}' was not found`);
}

function leaseLost(taskId: string, row: LeasedRow, ref: TaskRef): WeftError {
  let why: string;
  if (row.attempts > ref.attempt) why = `the step was handed out again (attempt ${row.attempts})`;
  else if (row.status === 'cancelled') why = 'the step was cancelled with its execution';
  else if (row.status === 'running') why = 'the lease expired';
  else if (row.status === 'queued')
    why = 'this attempt was already settled or its lease expired; the step waits for a retry';
  else why = `the step is now '${row.status}'`;
  return new WeftError('LEASE_LOST', `task '${taskId}' no longer holds its lease: ${why}; nothing was changed`);
}
