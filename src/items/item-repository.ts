import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/database-schema.js';
import { inTransaction, type StoreDialect } from '../store/store-dialect.js';

/**
 * The queries on `step_items` (migration 0009): the items of `for_each` steps. Like steps, every
 * write that settles an item is guarded by the status, lease owner and attempt it expects.
 */

/** One item of a `for_each` step. */
export interface StepItemRow {
  execution_id: string;
  step_id: string;
  item_index: number;
  workspace_id: string;
  /** `pending`, `queued`, `running`, `waiting`, `completed`, `failed` or `cancelled`. */
  status: string;
  /** The array element (JSON), bound as `item` when the item's input is rendered. */
  item: string;
  attempt_type: string;
  attempts: number;
  attempt_base: number;
  used_fallback: number;
  input: string | null;
  output: string | null;
  error: string | null;
  run_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  queued_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  child_execution_id: string | null;
  /** Leases lost while this item was the only work of its process (the poison-pill bound). */
  lost_attempts: number;
  /** A waiting `wait_for_signal` item: the signal name it waits for (src/signals/). */
  waiting_signal: string | null;
}

/** Item counts of one step, by status. */
export interface ItemCounts {
  total: number;
  pending: number;
  queued: number;
  running: number;
  waiting: number;
  completed: number;
  failed: number;
  cancelled: number;
}

const CHUNK = 200;
/** Statuses of an item that has not settled. */
export const UNSETTLED_ITEM_STATUSES = ['pending', 'queued', 'running', 'waiting'] as const;

function emptyCounts(): ItemCounts {
  return { total: 0, pending: 0, queued: 0, running: 0, waiting: 0, completed: 0, failed: 0, cancelled: 0 };
}

export class ItemRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Inserts rows that do not exist yet (a re-expanded step keeps its items), in chunks. */
  async insertMissing(rows: StepItemRow[]): Promise<void> {
    for (let start = 0; start < rows.length; start += CHUNK) {
      await this.db
        .insertInto('step_items')
        .values(rows.slice(start, start + CHUNK))
        .onConflict((conflict) => conflict.columns(['execution_id', 'step_id', 'item_index']).doNothing())
        .execute();
    }
  }

  /** One item, by its key. */
  get(key: { executionId: string; stepId: string; index: number }): Promise<StepItemRow | undefined> {
    return this.db
      .selectFrom('step_items')
      .selectAll()
      .where('execution_id', '=', key.executionId)
      .where('step_id', '=', key.stepId)
      .where('item_index', '=', key.index)
      .executeTakeFirst();
  }

  /** The items of an execution under way (running, or waiting on a timer, a child or a signal). */
  active(executionId: string): Promise<StepItemRow[]> {
    return this.db
      .selectFrom('step_items')
      .selectAll()
      .where('execution_id', '=', executionId)
      .where('status', 'in', ['running', 'waiting'])
      .orderBy('step_id')
      .orderBy('item_index')
      .execute();
  }

  /** Deletes every item of a step (its array changed, e.g. after a retry upstream). */
  async deleteOfStep(executionId: string, stepId: string): Promise<void> {
    await this.db
      .deleteFrom('step_items')
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .execute();
  }

  /** Counts of one step's items by status. */
  async counts(executionId: string, stepId: string): Promise<ItemCounts> {
    const rows = await this.db
      .selectFrom('step_items')
      .select(['status', (eb) => eb.fn.countAll<number>().as('count')])
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .groupBy('status')
      .execute();
    const counts = emptyCounts();
    for (const row of rows) {
      const count = Number(row.count);
      counts.total += count;
      if (row.status in counts) counts[row.status as keyof ItemCounts] += count;
    }
    return counts;
  }

  /**
   * Counts of a step's items in `statuses` only (one grouped statement over an index range each,
   * not a scan of all the items); the other statuses count 0.
   */
  async countIn(executionId: string, stepId: string, statuses: readonly string[]): Promise<ItemCounts> {
    const rows = await this.db
      .selectFrom('step_items')
      .select(['status', (eb) => eb.fn.countAll<number>().as('count')])
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .where('status', 'in', statuses)
      .groupBy('status')
      .execute();
    const counts = emptyCounts();
    for (const row of rows) {
      const count = Number(row.count);
      counts.total += count;
      if (row.status in counts) counts[row.status as keyof ItemCounts] += count;
    }
    return counts;
  }

  /**
   * Completes many running items in one statement (each still held by `owner` at its attempt).
   * Returns the `execution_id/step_id/index` keys it completed.
   */
  async completeMany(
    rows: Array<{
      executionId: string;
      stepId: string;
      index: number;
      attempt: number;
      input: string | null;
      output: string | null;
      at: string;
    }>,
    owner: string,
  ): Promise<Set<string>> {
    const done = new Set<string>();
    for (let start = 0; start < rows.length; start += CHUNK) {
      const values = rows
        .slice(start, start + CHUNK)
        .map(
          (row) =>
            sql`(${row.executionId}, ${row.stepId}, cast(${row.index} as integer), cast(${row.attempt} as integer), ${row.input}, ${row.output}, ${row.at})`,
        );
      const result = await sql<{ execution_id: string; step_id: string; item_index: number }>`
        update step_items
        set status = 'completed', input = v.column5, output = v.column6, error = null, completed_at = v.column7,
            lease_owner = null, lease_expires_at = null
        from (values ${sql.join(values)}) as v
        where step_items.execution_id = v.column1 and step_items.step_id = v.column2
          and step_items.item_index = v.column3 and step_items.attempts = v.column4
          and step_items.status = 'running' and step_items.lease_owner = ${owner}
        returning step_items.execution_id, step_items.step_id, step_items.item_index`.execute(this.db);
      for (const row of result.rows) done.add(`${row.execution_id}/${row.step_id}/${row.item_index}`);
    }
    return done;
  }

  /**
   * Claims up to `limit` pending items of a step, lowest index first, straight to running for
   * `owner` (a settle that has room here starts them without a claim round trip).
   */
  async claimPending(
    executionId: string,
    stepId: string,
    limit: number,
    owner: string,
    leaseUntil: number,
    at: string,
  ): Promise<StepItemRow[]> {
    if (limit <= 0) return [];
    // Two statements, not an UPDATE ... IN (SELECT ... LIMIT): PostgreSQL may plan that as a
    // scan of every item of the step, which made 10,000 items quadratic.
    const next = await this.pendingIndexes(executionId, stepId, limit);
    if (next.length === 0) return [];
    return this.db
      .updateTable('step_items')
      .set((eb) => ({
        status: 'running',
        attempts: eb(eb.ref('attempts'), '+', 1),
        lease_owner: owner,
        lease_expires_at: leaseUntil,
        queued_at: at,
        started_at: at,
        run_at: Date.now(),
      }))
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .where('status', '=', 'pending')
      .where('item_index', 'in', next)
      .returningAll()
      .execute();
  }

  private async pendingIndexes(executionId: string, stepId: string, limit: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('step_items')
      .select('item_index')
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .where('status', '=', 'pending')
      .orderBy('item_index')
      .limit(limit)
      .execute();
    return rows.map((row) => row.item_index);
  }

  /** Counts of the items of every `for_each` step of an execution, by step id. */
  async countsOfExecution(executionId: string): Promise<Map<string, ItemCounts>> {
    const rows = await this.db
      .selectFrom('step_items')
      .select(['step_id', 'status', (eb) => eb.fn.countAll<number>().as('count')])
      .where('execution_id', '=', executionId)
      .groupBy(['step_id', 'status'])
      .execute();
    const byStep = new Map<string, ItemCounts>();
    for (const row of rows) {
      const counts = byStep.get(row.step_id) ?? emptyCounts();
      const count = Number(row.count);
      counts.total += count;
      if (row.status in counts) counts[row.status as keyof ItemCounts] += count;
      byStep.set(row.step_id, counts);
    }
    return byStep;
  }

  /** A page of one step's items by index, after `afterIndex`, optionally of one status. */
  page(
    executionId: string,
    stepId: string,
    options: { status?: string; afterIndex?: number; limit: number },
  ): Promise<StepItemRow[]> {
    let query = this.db
      .selectFrom('step_items')
      .selectAll()
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId);
    if (options.status !== undefined) query = query.where('status', '=', options.status);
    if (options.afterIndex !== undefined) query = query.where('item_index', '>', options.afterIndex);
    return query.orderBy('item_index').limit(options.limit).execute();
  }

  /** The outputs of a step's items in index order (null for an item that did not complete). */
  async outputs(executionId: string, stepId: string): Promise<unknown[]> {
    const rows = await this.db
      .selectFrom('step_items')
      .select(['status', 'output'])
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .orderBy('item_index')
      .execute();
    return rows.map((row) => (row.status === 'completed' && row.output !== null ? JSON.parse(row.output) : null));
  }

  /** The first failed item of a step (for the step's error). */
  firstFailed(executionId: string, stepId: string): Promise<StepItemRow | undefined> {
    return this.db
      .selectFrom('step_items')
      .selectAll()
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .where('status', '=', 'failed')
      .orderBy('item_index')
      .limit(1)
      .executeTakeFirst();
  }

  /** Moves up to `limit` pending items of a step, lowest index first, to queued. Returns how many. */
  async queueNext(executionId: string, stepId: string, limit: number, runAt: number, at: string): Promise<number> {
    if (limit <= 0) return 0;
    const next = await this.pendingIndexes(executionId, stepId, limit);
    if (next.length === 0) return 0;
    const result = await this.db
      .updateTable('step_items')
      .set({ status: 'queued', run_at: runAt, queued_at: at })
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .where('status', '=', 'pending')
      .where('item_index', 'in', next)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Puts a step's failed and cancelled items back to pending with a fresh retry budget (resume, retry). */
  async resetUnsuccessful(executionId: string, stepId: string, type: string): Promise<void> {
    await this.db
      .updateTable('step_items')
      .set((eb) => ({
        status: 'pending',
        attempt_base: eb.ref('attempts'),
        used_fallback: 0,
        attempt_type: type,
        error: null,
        output: null,
        run_at: null,
        lease_owner: null,
        lease_expires_at: null,
        completed_at: null,
      }))
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .where('status', 'in', ['failed', 'cancelled'])
      .execute();
  }

  /** Updates an item still in one of `statuses` (and held by `owner` at `attempt` when given). */
  async update(
    key: { executionId: string; stepId: string; index: number },
    patch: Partial<StepItemRow>,
    guard: {
      statuses: readonly string[];
      owner?: string;
      attempt?: number;
      leaseExpiredBefore?: number;
      /** Only while the lease is still valid at this time (a worker's heartbeat). */
      leaseValidAt?: number;
    },
  ): Promise<boolean> {
    let query = this.db
      .updateTable('step_items')
      .set(patch)
      .where('execution_id', '=', key.executionId)
      .where('step_id', '=', key.stepId)
      .where('item_index', '=', key.index)
      .where('status', 'in', guard.statuses);
    if (guard.owner !== undefined) query = query.where('lease_owner', '=', guard.owner);
    if (guard.attempt !== undefined) query = query.where('attempts', '=', guard.attempt);
    if (guard.leaseExpiredBefore !== undefined) query = query.where('lease_expires_at', '<', guard.leaseExpiredBefore);
    if (guard.leaseValidAt !== undefined) query = query.where('lease_expires_at', '>=', guard.leaseValidAt);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Cancels the unsettled items of an execution (or of one step); returns the ids of the steps
   * that had items running, whose handlers are to be aborted, and the rows (as they were) of the
   * items whose attempt was under way (running or waiting), whose attempts end as cancelled.
   */
  async cancelUnsettled(
    executionId: string,
    at: string,
    stepId?: string,
  ): Promise<{ running: string[]; underway: StepItemRow[] }> {
    return inTransaction(this.db, async (trx) => {
      // RETURNING shows new values, so the attempts under way are read first, in the same transaction.
      let active = trx
        .selectFrom('step_items')
        .selectAll()
        .where('execution_id', '=', executionId)
        .where('status', 'in', ['running', 'waiting']);
      if (stepId !== undefined) active = active.where('step_id', '=', stepId);
      const underway = await active.orderBy('step_id').orderBy('item_index').execute();
      let update = trx
        .updateTable('step_items')
        .set({ status: 'cancelled', completed_at: at, lease_owner: null, lease_expires_at: null, run_at: null })
        .where('execution_id', '=', executionId)
        .where('status', 'in', [...UNSETTLED_ITEM_STATUSES]);
      if (stepId !== undefined) update = update.where('step_id', '=', stepId);
      await update.execute();
      const running = new Set(underway.filter((row) => row.status === 'running').map((row) => row.step_id));
      return { running: [...running], underway };
    });
  }

  /**
   * Claims up to `limit` due items (queued, or waiting with a timer that fired) of `types`, whose
   * step is waiting on its items in a running execution, for `owner` until `leaseUntil`. On
   * PostgreSQL concurrent claimers skip each other's rows.
   */
  async claimDue(
    owner: string,
    now: number,
    leaseUntil: number,
    startedAt: string,
    limit: number,
    filter: { types: readonly string[]; workspaceId?: string; excludeWorkspaceIds?: readonly string[] },
  ): Promise<Array<StepItemRow & { previous_status: string }>> {
    if (filter.types.length === 0 || limit <= 0) return [];
    const excluded = filter.excludeWorkspaceIds ?? [];
    const onlyWorkspace = filter.workspaceId === undefined ? sql`` : sql`and si.workspace_id = ${filter.workspaceId}`;
    const notExcluded =
      excluded.length === 0
        ? onlyWorkspace
        : sql`${onlyWorkspace} and si.workspace_id not in (${sql.join(excluded.map((id) => sql`${id}`))})`;
    const due = sql`
      select si.execution_id, si.step_id, si.item_index, si.status as previous_status
      from step_items si
      join execution_steps es on es.execution_id = si.execution_id and es.step_id = si.step_id
      join executions e on e.id = si.execution_id
      where si.status in ('queued', 'waiting') and si.run_at <= ${now} and e.status = 'running'
        and es.status = 'waiting' and si.attempt_type in (${sql.join(filter.types)}) ${notExcluded}
      order by si.run_at
      limit ${limit}`;
    const claim = sql`
      set status = 'running', lease_owner = ${owner}, lease_expires_at = ${leaseUntil},
          attempts = case when step_items.status = 'queued' then step_items.attempts + 1 else step_items.attempts end,
          started_at = case when step_items.status = 'queued' then ${startedAt} else step_items.started_at end`;
    if (this.dialect.name === 'postgres') {
      // RETURNING shows new values: the status before the claim comes from the locked CTE.
      const rows = await sql<StepItemRow & { previous_status: string }>`
        with due as (${due} for update of si skip locked)
        update step_items ${claim}
        from due
        where step_items.execution_id = due.execution_id and step_items.step_id = due.step_id
          and step_items.item_index = due.item_index
        returning step_items.*, due.previous_status`.execute(this.db);
      return rows.rows;
    }
    return inTransaction(this.db, async (trx) => {
      const picked = await sql<{
        execution_id: string;
        step_id: string;
        item_index: number;
        previous_status: string;
      }>`${due}`.execute(trx);
      if (picked.rows.length === 0) return [];
      const previous = new Map(
        picked.rows.map((row) => [`${row.execution_id}/${row.step_id}/${row.item_index}`, row.previous_status]),
      );
      const values = picked.rows.map((row) => sql`(${row.execution_id}, ${row.step_id}, ${row.item_index})`);
      const updated = await sql<StepItemRow>`
        update step_items ${claim}
        from (values ${sql.join(values)}) as v
        where step_items.execution_id = v.column1 and step_items.step_id = v.column2
          and step_items.item_index = v.column3 and step_items.status in ('queued', 'waiting')
        returning *`.execute(trx);
      return updated.rows.map((row) => ({
        ...row,
        previous_status: previous.get(`${row.execution_id}/${row.step_id}/${row.item_index}`) ?? 'queued',
      }));
    });
  }

  /**
   * When the next item of `types` becomes due (a queued item's retry delay, a timer), for a
   * worker's long poll; undefined when none waits on a time.
   */
  async nextDueAt(filter: { types: readonly string[]; workspaceId?: string }): Promise<number | undefined> {
    if (filter.types.length === 0) return undefined;
    let query = earliestDueItem(this.db, filter.types);
    if (filter.workspaceId !== undefined) query = query.where('step_items.workspace_id', '=', filter.workspaceId);
    const row = await query.executeTakeFirst();
    return row?.next === null || row?.next === undefined ? undefined : Number(row.next);
  }

  /** Extends the leases `owner` holds on running items. */
  async renew(owner: string, leaseUntil: number): Promise<void> {
    await this.db
      .updateTable('step_items')
      .set({ lease_expires_at: leaseUntil })
      .where('lease_owner', '=', owner)
      .where('status', '=', 'running')
      .execute();
  }
}

/**
 * The earliest `run_at` (as `next`) of a queued or waiting item of `types` in a running execution:
 * `nextDueAt`, and a column of the sweep's one read (store/repositories/sweep-repository.ts).
 * `types` is not empty.
 */
export function earliestDueItem(db: Kysely<Database>, types: readonly string[]) {
  return db
    .selectFrom('step_items')
    .innerJoin('executions', 'executions.id', 'step_items.execution_id')
    .select((eb) => eb.fn.min('step_items.run_at').as('next'))
    .where('step_items.status', 'in', ['queued', 'waiting'])
    .where('executions.status', '=', 'running')
    .where('step_items.attempt_type', 'in', types);
}
