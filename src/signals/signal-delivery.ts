import type { Engine } from '../engine/engine.js';
import { parseJsonText } from '../engine/json-text.js';
import type { SettleRequest } from '../engine/settle.js';
import { isTerminal } from '../engine/states.js';
import { notFound, WeftError } from '../errors.js';
import { newId, nowIso } from '../ids.js';
import { claimedItem } from '../items/for-each.js';
import { itemClaimBase } from '../items/item-claims.js';
import { StepRepository } from '../store/repositories/step-repository.js';
import type { SignalRow } from './signal-repository.js';

/**
 * Posting a signal (SPEC §3.1): one transaction locks the execution, stores the signal and, when
 * a `wait_for_signal` step of the execution waits for that name, consumes the signal for the
 * step that waited longest and completes it through the engine's settle path (so its dependents
 * are queued as after any completion). The execution lock is the one every settle takes first,
 * so a wait starting in another process at the same time either sees this signal or is seen by it.
 */

/** Unconsumed signals one execution may hold; one more is a 429. */
export const MAX_UNCONSUMED_SIGNALS = 100;

/** What was asked. */
export interface SignalPost {
  workspaceId: string;
  executionId: string;
  name: string;
  data: unknown;
  /** `Idempotency-Key`: a repeat on the same execution answers the first signal. */
  idempotencyKey?: string | undefined;
}

/** The stored signal, and whether it was a replay of an earlier post under the same key. */
export interface SignalPosted {
  signal: SignalRow;
  replayed: boolean;
}

/** Since when a step or item has waited (ISO text, so it sorts). */
function waitedSince(row: { started_at: string | null; queued_at: string | null }): string {
  return row.started_at ?? row.queued_at ?? '';
}

/** Stores a signal and hands it to a waiting step if one waits for its name. */
export async function postSignal(engine: Engine, post: SignalPost): Promise<SignalPosted> {
  return engine.settleLeased<SignalPosted>(async (tx) => {
    const none = { owner: engine.owner, worker: engine.owner };
    const [execution] = await tx.executions.getManyLocked([post.executionId]);
    if (!execution || execution.workspace_id !== post.workspaceId || execution.deleted_at !== null)
      throw notFound('execution', post.executionId);
    if (post.idempotencyKey !== undefined) {
      const first = await tx.signals.byIdempotencyKey(execution.id, post.idempotencyKey);
      if (first) {
        if (first.name !== post.name) {
          throw new WeftError(
            'CONFLICT',
            `the Idempotency-Key already sent signal '${first.name}' (${first.id}) to this execution; use a new key`,
          );
        }
        return { ...none, requests: [], value: { signal: first, replayed: true } };
      }
    }
    if (isTerminal(execution.status)) {
      throw new WeftError('CONFLICT', `execution '${execution.id}' is ${execution.status}: it takes no more signals`);
    }
    if ((await tx.signals.countUnconsumed(execution.id)) >= MAX_UNCONSUMED_SIGNALS) {
      throw new WeftError(
        'RATE_LIMITED',
        `execution '${execution.id}' already holds ${MAX_UNCONSUMED_SIGNALS} unconsumed signals; wait until steps consume them`,
      );
    }
    const at = nowIso();
    const signal: SignalRow = {
      id: newId('sig'),
      workspace_id: execution.workspace_id,
      execution_id: execution.id,
      name: post.name,
      data: JSON.stringify(post.data ?? null),
      idempotency_key: post.idempotencyKey ?? null,
      created_at: at,
      consumed_by_step: null,
      consumed_by_index: null,
      consumed_at: null,
    };
    await tx.signals.insert(signal);
    const requests: SettleRequest[] = [];
    const now = Date.now();
    // The longest-waiting of the steps and `for_each` items waiting for the name; a waiter whose
    // timer fired at this moment (claimed by another process) is passed over.
    const waiters = [
      ...(await tx.signals.oldestWaitingSteps(execution.id, post.name, 5, now)).map(
        (row) => ({ kind: 'step', row }) as const,
      ),
      ...(await tx.signals.oldestWaitingItems(execution.id, post.name, 5, now)).map(
        (row) => ({ kind: 'item', row }) as const,
      ),
    ].sort((a, b) => waitedSince(a.row).localeCompare(waitedSince(b.row)));
    for (const waiter of waiters) {
      // The waiting step (or item) is taken like a fired timer (running under this engine's
      // lease), then settled as completed in this same transaction.
      const lease = { status: 'running', lease_owner: engine.owner, lease_expires_at: Date.now() + 60_000 };
      const guard = { statuses: ['waiting'], attempt: waiter.row.attempts };
      const input = parseJsonText(waiter.row.input);
      const output = post.data ?? null;
      if (waiter.kind === 'step') {
        const waiting = waiter.row;
        if (!(await tx.steps.update(execution.id, waiting.step_id, lease, guard))) continue;
        await tx.signals.markConsumed(signal.id, waiting.step_id, at);
        const step = { ...StepRepository.claimed({ ...waiting, ...lease }, execution), previous_status: 'waiting' };
        requests.push({ step, outcome: { kind: 'completed', input, output }, endedAt: at });
      } else {
        const waiting = waiter.row;
        const key = { executionId: execution.id, stepId: waiting.step_id, index: waiting.item_index };
        if (!(await tx.items.update(key, { ...lease, waiting_signal: null }, guard))) continue;
        await tx.signals.markConsumed(signal.id, waiting.step_id, at, waiting.item_index);
        signal.consumed_by_index = waiting.item_index;
        const row = { ...waiting, ...lease, previous_status: 'waiting' };
        requests.push({
          step: claimedItem(row, itemClaimBase(row, execution)),
          outcome: { kind: 'completed', input, output },
          endedAt: at,
        });
      }
      signal.consumed_by_step = waiter.row.step_id;
      signal.consumed_at = at;
      break;
    }
    return { ...none, requests, value: { signal, replayed: false } };
  });
}
