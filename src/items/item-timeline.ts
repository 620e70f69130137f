import { millis, type TimelineEntry } from '../api/execution-views.js';
import { workerOfOwner } from '../engine/external-tasks.js';
import type { Store } from '../store/store.js';

/**
 * The timeline's bars for `for_each` items (SPEC §3.1: one bar per attempt, naming its `index`):
 * each recorded item attempt, and each item under way now (running, or waiting on a timer, a
 * child or a signal).
 */
export async function itemTimelineEntries(store: Store, executionId: string): Promise<TimelineEntry[]> {
  const [attempts, active] = await Promise.all([
    store.itemAttempts.ofExecution(executionId),
    store.items.active(executionId),
  ]);
  const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));
  const entries: TimelineEntry[] = attempts.map((attempt) => ({
    step_id: attempt.step_id,
    index: attempt.item_index,
    attempt: attempt.attempt,
    type: attempt.type,
    status: attempt.status,
    used_fallback: attempt.used_fallback === 1,
    queued_at: attempt.queued_at,
    started_at: attempt.started_at,
    ended_at: attempt.ended_at,
    duration_ms: millis(attempt.started_at, attempt.ended_at),
    worker: attempt.worker,
    error: parse(attempt.error),
  }));
  for (const item of active) {
    entries.push({
      step_id: item.step_id,
      index: item.item_index,
      attempt: item.attempts,
      type: item.attempt_type,
      status: item.status,
      used_fallback: item.used_fallback === 1,
      queued_at: item.queued_at,
      started_at: item.started_at,
      ended_at: null,
      duration_ms: null,
      worker: item.lease_owner === null ? null : workerOfOwner(item.lease_owner),
      error: null,
    });
  }
  return entries;
}
