import type { Store } from '../store/store.js';

/**
 * Reading a stream's starting state so that it matches the events it is said to cover. The state
 * (executions, steps) and the event log are separate reads, and the engine may commit between
 * them. Reading the event ids before and after the state tells whether it did: every state change
 * appends its events in the same transaction, and the log is append-only, so equal counts mean no
 * change committed during the state read, and the state reflects exactly those events.
 */

/** Rounds of reading before settling for the event ids read before the state. */
const MAX_ROUNDS = 3;

/** A state and the ids of the events it reflects. */
export interface ConsistentRead<T> {
  state: T;
  covered: Set<string>;
}

/**
 * Reads `readState` for `executionIds` with the ids of every event of those executions that it
 * reflects. If the executions keep changing for MAX_ROUNDS reads, the ids read before the last
 * state read are used: the state may then already show a few changes whose events follow it
 * (repeated, never missed).
 */
export async function readConsistently<T>(
  store: Store,
  executionIds: readonly string[],
  readState: () => Promise<T>,
): Promise<ConsistentRead<T>> {
  let before = executionIds.length === 0 ? [] : await store.executionLog.eventIds(executionIds);
  for (let round = 1; ; round += 1) {
    const state = await readState();
    if (executionIds.length === 0) return { state, covered: new Set() };
    const after = await store.executionLog.eventIds(executionIds);
    if (after.length === before.length) return { state, covered: new Set(after) };
    if (round === MAX_ROUNDS) return { state, covered: new Set(before) };
    before = after;
  }
}
