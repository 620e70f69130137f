import { jsonText, parseJsonText } from '../engine/json-text.js';
import type { SettleBatch, SettleRequest, StepOutcome } from '../engine/settle.js';
import { settleCompleted } from '../engine/settle-completed.js';
import type { PreparedAttempt } from '../engine/step-runner.js';
import type { ItemRecord } from '../items/item-settle.js';
import type { ClaimedStep } from '../store/repositories/step-repository.js';
import type { StepError } from '../tasks/task-outcomes.js';

/**
 * The engine side of `wait_for_signal` (SPEC §3.1). An attempt does not run a handler: the runner
 * turns it into a `signal_wait` outcome, and the settle transaction that records it (holding the
 * execution's row lock) either consumes the oldest unconsumed signal of that name and completes
 * the step with its data, or parks the step `waiting` without a lease (no worker slot), its
 * `run_at` the timeout's deadline (null: no timer). A signal posted later completes the waiting
 * step (signal-delivery.ts); a deadline that passes is claimed like a delay's timer and fails the
 * attempt with SIGNAL_TIMEOUT, so retry and fallback apply and the timer survives restarts.
 */

/** The task type these functions serve. */
export const WAIT_FOR_SIGNAL_TASK_TYPE = 'wait_for_signal';

/** An attempt of `wait_for_signal`, to settle. */
export interface SignalWait {
  kind: 'signal_wait';
  input: unknown;
  /** The signal name to wait for. */
  signal: string;
  /** When the wait times out (epoch ms), or null for no timeout. */
  deadline: number | null;
}

/** The outcome of a rendered `wait_for_signal` attempt: a wait, or a failure for a bad input. */
export function signalWaitOf(prepared: PreparedAttempt, now = Date.now()): SignalWait | StepOutcome {
  const input = prepared.input as { signal?: unknown; timeout_seconds?: unknown } | null;
  const signal = input?.signal;
  if (typeof signal !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(signal)) {
    const error: StepError = {
      message: `wait_for_signal: 'signal' must be a name like a step id (a letter, then up to 63 letters, digits, '_' or '-'); got ${JSON.stringify(signal ?? null)}`,
      retryable: false,
    };
    return { kind: 'failed', input: prepared.view, error };
  }
  const seconds = typeof input?.timeout_seconds === 'number' ? input.timeout_seconds : prepared.timeoutSeconds;
  return {
    kind: 'signal_wait',
    input: prepared.view,
    signal,
    deadline: seconds === null || seconds === undefined ? null : now + seconds * 1000,
  };
}

/** True for a claimed attempt whose signal wait reached its deadline (its timer fired). */
export function isSignalTimeout(claimed: ClaimedStep): boolean {
  return claimed.previous_status === 'waiting' && claimed.attempt_type === WAIT_FOR_SIGNAL_TASK_TYPE;
}

/** The failed outcome of a wait that timed out: retryable, code SIGNAL_TIMEOUT. */
export function signalTimeoutOutcome(claimed: ClaimedStep): StepOutcome {
  const input = parseJsonText(claimed.input) as { signal?: string; timeout_seconds?: number } | null;
  const name = claimed.waiting_signal ?? input?.signal ?? '?';
  return {
    kind: 'failed',
    input,
    error: {
      message: `no signal '${name}' arrived in time${input?.timeout_seconds === undefined ? '' : ` (timeout_seconds: ${input.timeout_seconds})`}`,
      retryable: true,
      code: 'SIGNAL_TIMEOUT',
    },
  };
}

/**
 * Settles a `signal_wait` outcome in the batch's transaction (the execution is locked): the
 * oldest unconsumed signal of the name completes the step now, else the step waits.
 */
export async function settleSignalWait(
  batch: SettleBatch,
  step: ClaimedStep,
  outcome: SignalWait,
  endedAt: string,
): Promise<void> {
  const { tx, env } = batch;
  // A signal is consumed only by an attempt this settle can still record (its lease not lost).
  const row = await tx.steps.get(step.execution_id, step.step_id);
  if (row?.status !== 'running' || row.lease_owner !== env.owner || row.attempts !== step.attempts) return;
  const signal = await tx.signals.consumeOldest(step.execution_id, outcome.signal, step.step_id, endedAt);
  if (signal) {
    const request: SettleRequest = {
      step,
      outcome: { kind: 'completed', input: outcome.input, output: parseJsonText(signal.data) },
      endedAt,
    };
    await settleCompleted(batch, [request]);
    return;
  }
  const patch = {
    status: 'waiting',
    run_at: outcome.deadline,
    input: jsonText(outcome.input),
    output: null,
    waiting_signal: outcome.signal,
    lease_owner: null,
    lease_expires_at: null,
  };
  const guard = { statuses: ['running'], owner: env.owner, attempt: step.attempts };
  if ((await tx.steps.update(step.execution_id, step.step_id, patch, guard)) && outcome.deadline !== null)
    batch.wakeAt(outcome.deadline);
}

/**
 * The same for an item of a `for_each` step (a wait per item): the oldest unconsumed signal of
 * the name completes the item now (consumed with its index), else the item waits. False when the
 * item's guard refused it (its lease was lost).
 */
export async function settleItemSignalWait(record: ItemRecord, outcome: SignalWait): Promise<boolean> {
  const { batch, item, endedAt } = record;
  const { tx, env } = batch;
  const key = { executionId: item.execution_id, stepId: item.step_id, index: item.item_index };
  const guard = { statuses: ['running'], owner: env.owner, attempt: item.attempts };
  const row = await tx.items.get(key);
  if (row?.status !== 'running' || row.lease_owner !== env.owner || row.attempts !== item.attempts) return false;
  const signal = await tx.signals.consumeOldest(
    item.execution_id,
    outcome.signal,
    item.step_id,
    endedAt,
    item.item_index,
  );
  const released = { lease_owner: null, lease_expires_at: null };
  if (signal) {
    const output = parseJsonText(signal.data);
    const patch = {
      status: 'completed',
      input: jsonText(outcome.input),
      output: signal.data,
      error: null,
      waiting_signal: null,
      completed_at: endedAt,
      ...released,
    };
    if (!(await tx.items.update(key, patch, guard))) return false;
    record.attempt('completed', null);
    record.event('step.completed', { status: 'completed', output });
    return true;
  }
  const patch = {
    status: 'waiting',
    run_at: outcome.deadline,
    input: jsonText(outcome.input),
    output: null,
    waiting_signal: outcome.signal,
    ...released,
  };
  if (!(await tx.items.update(key, patch, guard))) return false;
  if (outcome.deadline !== null) batch.wakeAt(outcome.deadline);
  return true;
}
