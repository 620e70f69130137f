import { type Kysely, sql } from 'kysely';
import type { StepItemRow } from '../items/item-repository.js';
import type { Database, ExecutionStepRow } from '../store/database-schema.js';
import { decodeCursor, encodeCursor, type PageRequest } from '../store/pagination.js';
import type { StoreDialect } from '../store/store-dialect.js';
import type { Page } from '../types.js';

/**
 * Rows of `signals` (migration 0011) and the lookups of `wait_for_signal` steps. Consumption is a
 * guarded update (`consumed_by_step is null`), and every caller holds the execution's row lock
 * (`executions.getManyLocked`) first, so a signal is consumed once even when processes race.
 */

/** A signal as stored: `data` is JSON text; `consumed_by_step` is null while unconsumed. */
export interface SignalRow {
  id: string;
  workspace_id: string;
  execution_id: string;
  name: string;
  data: string;
  idempotency_key: string | null;
  created_at: string;
  consumed_by_step: string | null;
  /** The item of `consumed_by_step` that consumed it, when that step runs `for_each`. */
  consumed_by_index: number | null;
  consumed_at: string | null;
}

/** A signal as the API shows it. */
export interface SignalView {
  id: string;
  execution_id: string;
  name: string;
  data: unknown;
  created_at: string;
  consumed_by_step: string | null;
  consumed_by_index: number | null;
  consumed_at: string | null;
}

/** The API view of a row. */
export function signalView(row: SignalRow): SignalView {
  return {
    id: row.id,
    execution_id: row.execution_id,
    name: row.name,
    data: JSON.parse(row.data) as unknown,
    created_at: row.created_at,
    consumed_by_step: row.consumed_by_step,
    consumed_by_index: row.consumed_by_index ?? null,
    consumed_at: row.consumed_at,
  };
}

export class SignalRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Stores a new signal. */
  async insert(row: SignalRow): Promise<void> {
    await this.db.insertInto('signals').values(row).execute();
  }

  /** The signal posted to an execution under an idempotency key, if any. */
  byIdempotencyKey(executionId: string, key: string): Promise<SignalRow | undefined> {
    return this.db
      .selectFrom('signals')
      .selectAll()
      .where('execution_id', '=', executionId)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
  }

  /** How many signals of an execution no step has consumed yet. */
  async countUnconsumed(executionId: string): Promise<number> {
    const row = await this.db
      .selectFrom('signals')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('execution_id', '=', executionId)
      .where('consumed_by_step', 'is', null)
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }

  /**
   * Consumes the oldest unconsumed signal `name` of an execution for `stepId`; returns it, or
   * undefined when there is none. The update is guarded, so a row another transaction consumed
   * first is skipped.
   */
  async consumeOldest(
    executionId: string,
    name: string,
    stepId: string,
    at: string,
    index: number | null = null,
  ): Promise<SignalRow | undefined> {
    for (let round = 0; round < 5; round += 1) {
      let query = this.db
        .selectFrom('signals')
        .selectAll()
        .where('execution_id', '=', executionId)
        .where('name', '=', name)
        .where('consumed_by_step', 'is', null)
        .orderBy('id')
        .limit(1);
      if (this.dialect.name === 'postgres') query = query.forUpdate();
      const oldest = await query.executeTakeFirst();
      if (!oldest) return undefined;
      if (await this.markConsumed(oldest.id, stepId, at, index))
        return { ...oldest, consumed_by_step: stepId, consumed_by_index: index, consumed_at: at };
    }
    return undefined;
  }

  /**
   * Marks a signal consumed by `stepId` (its item `index` under `for_each`) unless it already is;
   * true when this call consumed it.
   */
  async markConsumed(signalId: string, stepId: string, at: string, index: number | null = null): Promise<boolean> {
    const result = await this.db
      .updateTable('signals')
      .set({ consumed_by_step: stepId, consumed_by_index: index, consumed_at: at })
      .where('id', '=', signalId)
      .where('consumed_by_step', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * The steps of an execution waiting for signal `name` (`wait_for_signal` attempts in status
   * `waiting` whose deadline, if any, is after `now`), longest-waiting first, at most `limit`.
   */
  oldestWaitingSteps(executionId: string, name: string, limit: number, now: number): Promise<ExecutionStepRow[]> {
    return (
      this.db
        .selectFrom('execution_steps')
        .selectAll()
        .where('execution_id', '=', executionId)
        .where('status', '=', 'waiting')
        .where('attempt_type', '=', 'wait_for_signal')
        .where('waiting_signal', '=', name)
        // A wait past its deadline has timed out, even before a process has failed it.
        .where((eb) => eb.or([eb('run_at', 'is', null), eb('run_at', '>', now)]))
        .orderBy(sql`coalesce(started_at, queued_at)`)
        .orderBy('position')
        .limit(limit)
        .execute()
    );
  }

  /**
   * The items of `for_each` steps of an execution waiting for signal `name`, like
   * `oldestWaitingSteps`: longest-waiting first (then by index), at most `limit`.
   */
  oldestWaitingItems(executionId: string, name: string, limit: number, now: number): Promise<StepItemRow[]> {
    return this.db
      .selectFrom('step_items')
      .selectAll()
      .where('execution_id', '=', executionId)
      .where('status', '=', 'waiting')
      .where('attempt_type', '=', 'wait_for_signal')
      .where('waiting_signal', '=', name)
      .where((eb) => eb.or([eb('run_at', 'is', null), eb('run_at', '>', now)]))
      .orderBy(sql`coalesce(started_at, queued_at)`)
      .orderBy('item_index')
      .limit(limit)
      .execute();
  }

  /** A page of an execution's signals, newest first. */
  async list(executionId: string, page: PageRequest): Promise<Page<SignalRow>> {
    let query = this.db.selectFrom('signals').selectAll().where('execution_id', '=', executionId);
    if (page.cursor !== undefined) query = query.where('id', '<', decodeCursor(page.cursor));
    const rows = await query
      .orderBy('id', 'desc')
      .limit(page.limit + 1)
      .execute();
    const hasMore = rows.length > page.limit;
    const items = hasMore ? rows.slice(0, page.limit) : rows;
    const last = items[items.length - 1];
    return { items, next_cursor: hasMore && last ? encodeCursor(last.id) : null };
  }
}
