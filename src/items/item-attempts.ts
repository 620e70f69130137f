import type { Kysely } from 'kysely';
import { workerOfOwner } from '../engine/external-tasks.js';
import { nowIso } from '../ids.js';
import type { Database } from '../store/database-schema.js';
import type { NewEvent } from '../store/repositories/execution-log-repository.js';
import type { Store } from '../store/store.js';
import type { ClaimedItem } from './for-each.js';

/**
 * The attempts of `for_each` items (migration 0012), for the timeline, and the `step.*` events
 * items emit: like a step's, each carries the item's `index` (SPEC §3.1), so a stream or webhook
 * consumer tells an item's event from its step's (which has none).
 */

/** One recorded item attempt: its outcome and times. */
export interface StepItemAttemptRow {
  execution_id: string;
  step_id: string;
  item_index: number;
  attempt: number;
  workspace_id: string;
  type: string;
  /** `completed`, `failed`, `lost`, `released`, `interrupted` or `cancelled`. */
  status: string;
  used_fallback: number;
  error: string | null;
  worker: string | null;
  queued_at: string | null;
  started_at: string | null;
  ended_at: string | null;
}

/** The attempt row of a settled item attempt. */
export function itemAttemptRow(
  item: ClaimedItem,
  status: string,
  error: string | null,
  worker: string | null,
  endedAt: string,
): StepItemAttemptRow {
  return {
    execution_id: item.execution_id,
    step_id: item.step_id,
    item_index: item.item_index,
    attempt: item.attempts,
    workspace_id: item.workspace_id,
    type: item.attempt_type,
    status,
    used_fallback: item.used_fallback,
    error,
    worker,
    queued_at: item.queued_at,
    started_at: item.started_at,
    ended_at: endedAt,
  };
}

/**
 * Cancels the unsettled items of an execution (or of one step: its failures went beyond
 * tolerance). An item attempt under way (running or waiting) then ends as `cancelled` at `at`,
 * recorded now with its worker and times: its late outcome is refused by the status guard, so
 * without this the timeline would lose it (an attempt already recorded is not recorded twice).
 * Returns the ids of the steps that had items running (their handlers are aborted after commit).
 */
export async function cancelUnsettledItems(
  tx: Store,
  executionId: string,
  at: string,
  reason: string,
  stepId?: string,
): Promise<string[]> {
  const { running, underway } = await tx.items.cancelUnsettled(executionId, at, stepId);
  const error = JSON.stringify({ message: reason, retryable: false });
  await tx.itemAttempts.record(
    underway.map((item) => ({
      execution_id: item.execution_id,
      step_id: item.step_id,
      item_index: item.item_index,
      attempt: item.attempts,
      workspace_id: item.workspace_id,
      type: item.attempt_type,
      status: 'cancelled',
      used_fallback: item.used_fallback,
      error,
      worker: item.lease_owner === null ? null : workerOfOwner(item.lease_owner),
      queued_at: item.queued_at,
      started_at: item.started_at,
      ended_at: at,
    })),
  );
  return running;
}

/** The `step.started` event of a claimed item attempt; `worker` names an external worker. */
export function itemStartedEvent(item: ClaimedItem, worker?: string): NewEvent {
  return {
    workspaceId: item.workspace_id,
    executionId: item.execution_id,
    stepId: item.step_id,
    type: 'step.started',
    at: item.started_at ?? nowIso(),
    data: {
      execution_id: item.execution_id,
      workflow_id: item.workflow_id,
      step_id: item.step_id,
      index: item.item_index,
      status: 'running',
      attempt: item.attempts,
      ...(worker === undefined ? {} : { worker }),
    },
  };
}

const CHUNK = 200;

/** The queries on `step_item_attempts`. */
export class ItemAttemptRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Records item attempts (once they have an outcome); a repeated one is ignored. */
  async record(rows: readonly StepItemAttemptRow[]): Promise<void> {
    for (let start = 0; start < rows.length; start += CHUNK) {
      await this.db
        .insertInto('step_item_attempts')
        .values(rows.slice(start, start + CHUNK))
        .onConflict((conflict) => conflict.columns(['execution_id', 'step_id', 'item_index', 'attempt']).doNothing())
        .execute();
    }
  }

  /** The item attempts of an execution, by step, index and attempt. */
  ofExecution(executionId: string): Promise<StepItemAttemptRow[]> {
    return this.db
      .selectFrom('step_item_attempts')
      .selectAll()
      .where('execution_id', '=', executionId)
      .orderBy('step_id')
      .orderBy('item_index')
      .orderBy('attempt')
      .execute();
  }
}
