import { type Kysely, sql } from 'kysely';
import type { Database, ExecutionRow } from '../store/database-schema.js';
import type { StoreDialect } from '../store/store-dialect.js';

/** A concurrency key of one group: the unit a `concurrency.limit` bounds. */
export interface SlotKey {
  group: string;
  key: string;
}

/** How many executions of a key hold a slot, and how many wait for one. */
export interface SlotCounts {
  holders: number;
  queued: number;
}

/**
 * The queries of concurrency keys (SPEC §3.1) over `executions`. Callers take `lockKey` first in
 * the same transaction: on PostgreSQL it serialises every admission of one key across processes,
 * so two processes never both count the last slot free; SQLite has one writer already.
 */
export class ConcurrencyRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Holds the key's admission lock until the transaction ends (PostgreSQL advisory lock). */
  async lockKey({ group, key }: SlotKey): Promise<void> {
    if (this.dialect.name !== 'postgres') return;
    const name = `weft-slot\u001f${group}\u001f${key}`;
    await sql`select pg_advisory_xact_lock(hashtextextended(${name}, 0))`.execute(this.db);
  }

  /** Slot holders (running, paused) and queued executions of a key. */
  async counts({ group, key }: SlotKey): Promise<SlotCounts> {
    const rows = await this.db
      .selectFrom('executions')
      .select(['status', (eb) => eb.fn.countAll<number | string>().as('count')])
      .where('concurrency_group', '=', group)
      .where('concurrency_key', '=', key)
      .where('status', 'in', ['queued', 'running', 'paused'])
      .groupBy('status')
      .execute();
    const counts: SlotCounts = { holders: 0, queued: 0 };
    for (const row of rows) {
      if (row.status === 'queued') counts.queued += Number(row.count);
      else counts.holders += Number(row.count);
    }
    return counts;
  }

  /** The oldest slot holders of a key (the first ones `cancel_in_progress` cancels). */
  oldestHolders({ group, key }: SlotKey, limit: number): Promise<ExecutionRow[]> {
    return this.db
      .selectFrom('executions')
      .selectAll()
      .where('concurrency_group', '=', group)
      .where('concurrency_key', '=', key)
      .where('status', 'in', ['running', 'paused'])
      .orderBy('started_at')
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /**
   * The oldest queued executions of a key that may be admitted, with the key's slot holders counted
   * in the same statement: those of a disabled or deleted workflow stay queued (until cancelled, or
   * the workflow is enabled again). `holders` is undefined when nothing may be admitted.
   */
  async oldestQueued(
    { group, key }: SlotKey,
    limit: number,
  ): Promise<{ candidates: ExecutionRow[]; holders: number | undefined }> {
    const rows = await this.db
      .selectFrom('executions as e')
      .leftJoin('workflows as w', 'w.id', 'e.workflow_id')
      .selectAll('e')
      .select((eb) =>
        eb
          .selectFrom('executions as h')
          .select(eb.fn.countAll<number | string>().as('count'))
          .where('h.concurrency_group', '=', group)
          .where('h.concurrency_key', '=', key)
          .where('h.status', 'in', ['running', 'paused'])
          .as('slot_holders'),
      )
      .where('e.concurrency_group', '=', group)
      .where('e.concurrency_key', '=', key)
      .where('e.status', '=', 'queued')
      .where((eb) =>
        eb.or([eb('e.workflow_id', 'is', null), eb.and([eb('w.enabled', '=', 1), eb('w.deleted_at', 'is', null)])]),
      )
      .orderBy('e.queued_at')
      .orderBy('e.id')
      .limit(limit)
      .execute();
    const first = rows[0];
    const candidates = rows.map(({ slot_holders: _holders, ...row }) => row as ExecutionRow);
    return { candidates, holders: first ? Number(first.slot_holders ?? 0) : undefined };
  }

  /** Keys with queued executions (the sweep admits what a freed slot could not). */
  async keysWithQueued(limit: number): Promise<SlotKey[]> {
    const rows = await this.db
      .selectFrom('executions')
      .select(['concurrency_group', 'concurrency_key'])
      .distinct()
      .where('status', '=', 'queued')
      .where('concurrency_group', 'is not', null)
      .limit(limit)
      .execute();
    return rows.map((row) => ({ group: row.concurrency_group ?? '', key: row.concurrency_key ?? '' }));
  }

  /** Keys of a workflow with queued executions (when it is enabled again). */
  async queuedKeysOf(workflowId: string): Promise<SlotKey[]> {
    const rows = await this.db
      .selectFrom('executions')
      .select(['concurrency_group', 'concurrency_key'])
      .distinct()
      .where('status', '=', 'queued')
      .where('concurrency_group', '=', workflowId)
      .execute();
    return rows.map((row) => ({ group: row.concurrency_group ?? '', key: row.concurrency_key ?? '' }));
  }

  /** 1-based places in their key's queue of queued executions, by id. */
  async queuePositions(rows: readonly ExecutionRow[]): Promise<Map<string, number>> {
    const positions = new Map<string, number>();
    for (const row of rows) {
      if (row.status !== 'queued' || !row.concurrency_group || !row.queued_at) continue;
      const ahead = await this.db
        .selectFrom('executions')
        .select((eb) => eb.fn.countAll<number | string>().as('count'))
        .where('concurrency_group', '=', row.concurrency_group)
        .where('concurrency_key', '=', row.concurrency_key ?? '')
        .where('status', '=', 'queued')
        .where((eb) =>
          eb.or([
            eb('queued_at', '<', row.queued_at as string),
            eb.and([eb('queued_at', '=', row.queued_at as string), eb('id', '<', row.id)]),
          ]),
        )
        .executeTakeFirstOrThrow();
      positions.set(row.id, Number(ahead.count) + 1);
    }
    return positions;
  }

  /**
   * Parks the queued steps of an execution that waits for a slot: without a `run_at` no claim
   * looks at them (claims scan due steps by `run_at`), so a long queue costs the claims nothing.
   */
  async parkSteps(executionId: string): Promise<void> {
    await this.db
      .updateTable('execution_steps')
      .set({ run_at: null })
      .where('execution_id', '=', executionId)
      .where('status', '=', 'queued')
      .execute();
  }

  /**
   * Admits queued executions: `running`, started now unless they had started before (a resume),
   * with their workflow timeout counted from now, and their parked steps due `now`. Returns the ids
   * it admitted (those still queued). One statement on PostgreSQL (a data-modifying CTE), since
   * this runs in the transaction of every execution end that frees a slot.
   */
  async admit(ids: readonly string[], at: string, timeoutAt: number | null, now: number): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    if (this.dialect.name === 'postgres') {
      const list = sql.join(ids.map((id) => sql`${id}`));
      const result = await sql<{ id: string }>`
        with admitted as (
          update executions
             set status = 'running', started_at = coalesce(started_at, ${at}), timeout_at = ${timeoutAt}, updated_at = ${at}
           where id in (${list}) and status = 'queued'
          returning id
        ), released as (
          update execution_steps set run_at = ${now}
           where execution_id in (select id from admitted) and status = 'queued' and run_at is null
          returning 1
        )
        select id from admitted`.execute(this.db);
      return new Set(result.rows.map((row) => row.id));
    }
    const rows = await this.db
      .updateTable('executions')
      .set((eb) => ({
        status: 'running',
        started_at: eb.fn.coalesce('started_at', eb.val(at)),
        timeout_at: timeoutAt,
        updated_at: at,
      }))
      .where('id', 'in', ids)
      .where('status', '=', 'queued')
      .returning('id')
      .execute();
    const admitted = rows.map((row) => row.id);
    if (admitted.length > 0) {
      await this.db
        .updateTable('execution_steps')
        .set({ run_at: now })
        .where('execution_id', 'in', admitted)
        .where('status', '=', 'queued')
        .where('run_at', 'is', null)
        .execute();
    }
    return new Set(admitted);
  }

  /** Executions queued now, in every workspace (metrics). */
  async queuedCount(): Promise<number> {
    const row = await this.db
      .selectFrom('executions')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .where('status', '=', 'queued')
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
}
