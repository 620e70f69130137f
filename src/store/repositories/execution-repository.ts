import { type Kysely, type RawBuilder, type SqlBool, sql } from 'kysely';
import { firstIdAt } from '../../ids.js';
import type { Database, ExecutionRow } from '../database-schema.js';
import { decodeCursor, type PageRequest, toPage } from '../pagination.js';
import type { StoreDialect } from '../store-dialect.js';

/**
 * How far an execution's id time may be from its `created_at` for a time window to find it. The
 * engine takes both from one clock reading after the other (start-execution.ts), so they agree to
 * the millisecond, unless the clock steps back: the ids made in the next moments keep the newest
 * id time (monotonic ULIDs), ahead of `created_at` by the step. Ten minutes covers any step short
 * of a broken clock, and costs the list walk only the executions created in those ten minutes.
 */
const ID_TIME_MARGIN_MS = 10 * 60 * 1000;

/** Up to how many executions a label may have on SQLite for the list to be driven by it. */
const RARE_LABEL_ROWS = 2000;

/** Filters of `GET /executions`. */
export interface ExecutionFilters {
  workflowId?: string | undefined;
  status?: string | undefined;
  labels?: Array<[string, string]> | undefined;
  reference?: string | undefined;
  includeDeleted?: boolean | undefined;
  /** Only the children of this execution (its `workflow` steps' executions). */
  parentExecutionId?: string | undefined;
  /** Only those created at or after this time (ISO 8601 UTC, as `created_at` is stored). */
  createdAfter?: string | undefined;
  /** Only those created before this time (ISO 8601 UTC). */
  createdBefore?: string | undefined;
}

/**
 * The update that counts settled steps on their executions and returns what is left unsettled
 * (its own statement, or a CTE of the settle counters' combined one).
 */
export function settledExecutionsUpdate(
  decrements: ReadonlyArray<{ id: string; settled: number }>,
): RawBuilder<{ id: string; steps_unsettled: number; status: string }> {
  const values = decrements.map((row) => sql`(${row.id}, cast(${row.settled} as integer))`);
  return settledExecutionsUpdateFrom(sql`(values ${sql.join(values)})`);
}

/** `settledExecutionsUpdate` from a relation of (execution id, settled) as `column1`, `column2`. */
export function settledExecutionsUpdateFrom(
  decrements: RawBuilder<unknown>,
): RawBuilder<{ id: string; steps_unsettled: number; status: string }> {
  return sql<{ id: string; steps_unsettled: number; status: string }>`
    update executions set steps_unsettled = steps_unsettled - v.column2
    from ${decrements} as v
    where executions.id = v.column1
    returning id, steps_unsettled, status`;
}

/** Executions: creation, reads, and guarded status changes. */
export class ExecutionRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Inserts new execution rows. */
  async insertMany(rows: ExecutionRow[]): Promise<void> {
    for (let start = 0; start < rows.length; start += 100) {
      await this.db
        .insertInto('executions')
        .values(rows.slice(start, start + 100))
        .execute();
    }
  }

  /** The execution a start with this idempotency key created at or after `since` (ISO). */
  byIdempotencyKey(workspaceId: string, key: string, since: string): Promise<ExecutionRow | undefined> {
    return this.db
      .selectFrom('executions')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('idempotency_key', '=', key)
      .where('created_at', '>=', since)
      .executeTakeFirst();
  }

  /** Frees a key whose 24 hours are over, so a new start may take it. */
  async releaseIdempotencyKey(workspaceId: string, key: string, before: string): Promise<void> {
    await this.db
      .updateTable('executions')
      .set({ idempotency_key: null })
      .where('workspace_id', '=', workspaceId)
      .where('idempotency_key', '=', key)
      .where('created_at', '<', before)
      .execute();
  }

  /** Several executions by id, locked in id order on PostgreSQL (see `getById`). */
  async getManyLocked(ids: readonly string[]): Promise<ExecutionRow[]> {
    if (ids.length === 0) return [];
    let query = this.db.selectFrom('executions').selectAll().where('id', 'in', ids).orderBy('id');
    if (this.dialect.name === 'postgres') query = query.forUpdate();
    return query.execute();
  }

  /** An execution of a workspace (deleted ones only when asked). */
  get(workspaceId: string, id: string, includeDeleted = false, lock = false): Promise<ExecutionRow | undefined> {
    let query = this.db
      .selectFrom('executions')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id);
    if (!includeDeleted) query = query.where('deleted_at', 'is', null);
    if (lock && this.dialect.name === 'postgres') query = query.forUpdate();
    return query.executeTakeFirst();
  }

  /**
   * An execution by id alone, for the engine (which acts on behalf of the execution's workspace).
   * `lock` takes its row lock on PostgreSQL (inside a transaction): the engine always locks the
   * execution before its steps, so settles, cancels and recovery never deadlock each other.
   */
  getById(id: string, lock = false): Promise<ExecutionRow | undefined> {
    let query = this.db.selectFrom('executions').selectAll().where('id', '=', id);
    if (lock && this.dialect.name === 'postgres') query = query.forUpdate();
    return query.executeTakeFirst();
  }

  /**
   * The children of an execution that have not ended, locked in id order on PostgreSQL (a parent
   * that ends cancels them; see src/children/).
   */
  unendedChildren(parentId: string): Promise<ExecutionRow[]> {
    let query = this.db
      .selectFrom('executions')
      .selectAll()
      .where('parent_execution_id', '=', parentId)
      .where('status', 'in', ['pending', 'queued', 'running', 'paused'])
      .orderBy('id');
    if (this.dialect.name === 'postgres') query = query.forUpdate();
    return query.execute();
  }

  /** Executions of a workspace, newest first. */
  async list(workspaceId: string, filters: ExecutionFilters, page: PageRequest) {
    let query = this.db
      .selectFrom('executions')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('id', 'desc')
      .limit(page.limit + 1);
    if (!filters.includeDeleted) query = query.where('deleted_at', 'is', null);
    if (filters.workflowId) query = query.where('workflow_id', '=', filters.workflowId);
    if (filters.status) query = query.where('status', '=', filters.status);
    if (filters.reference) query = query.where('reference', '=', filters.reference);
    if (filters.parentExecutionId) query = query.where('parent_execution_id', '=', filters.parentExecutionId);
    // The window on `created_at` is exact; the same window on the id (with a margin) lets the walk of
    // the list's index start at the window instead of passing every newer execution first.
    if (filters.createdAfter) {
      query = query
        .where('created_at', '>=', filters.createdAfter)
        .where('id', '>=', firstIdAt('ex', Date.parse(filters.createdAfter) - ID_TIME_MARGIN_MS));
    }
    if (filters.createdBefore) {
      query = query
        .where('created_at', '<', filters.createdBefore)
        .where('id', '<', firstIdAt('ex', Date.parse(filters.createdBefore) + ID_TIME_MARGIN_MS));
    }
    for (const [key, value] of filters.labels ?? [])
      query = query.where(await this.labelFilter(workspaceId, key, value));
    if (page.cursor) query = query.where('id', '<', decodeCursor(page.cursor));
    return toPage(await query.execute(), page.limit, (row) => row);
  }

  /**
   * The filter on one label. PostgreSQL: containment, through its GIN index (migration 0017).
   * SQLite keeps no statistics to choose a plan by, so the choice is made here from the label's
   * count in `execution_labels` (migration 0019), read up to `RARE_LABEL_ROWS`: a rarer label
   * drives the query (its executions by primary key, sorted: 1.4 ms for 100 of 100,000), a
   * commoner one is checked on the walk of the list's index in id order, which finds a page of
   * them soon (2.5 ms for a label on every execution, where the label-driven plan sorts 100,000:
   * 29 ms).
   */
  private async labelFilter(workspaceId: string, key: string, value: string) {
    if (this.dialect.name === 'postgres') return this.dialect.jsonFieldEquals('labels', key, value);
    const labelled = this.db
      .selectFrom('execution_labels')
      .where('workspace_id', '=', workspaceId)
      .where('key', '=', key)
      .where('value', '=', value);
    const { count } = await this.db
      .selectFrom(
        labelled
          .select(sql<number>`1`.as('one'))
          .limit(RARE_LABEL_ROWS + 1)
          .as('rows'),
      )
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    return Number(count) <= RARE_LABEL_ROWS
      ? sql<SqlBool>`${sql.ref('executions.id')} in (${labelled.select('execution_id')})`
      : this.dialect.jsonFieldEquals('labels', key, value);
  }

  /**
   * The newest execution (not deleted) of each of these workflows of a workspace, in one statement:
   * per workflow, one step down the (workspace_id, workflow_id, id) index from its end (migration
   * 0016). Workflows without one are left out.
   */
  async latestOfWorkflows(
    workspaceId: string,
    workflowIds: readonly string[],
  ): Promise<Map<string, Pick<ExecutionRow, 'id' | 'status' | 'created_at' | 'completed_at'>>> {
    if (workflowIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('workflows')
      .innerJoin('executions', (join) =>
        join.on((eb) =>
          eb(
            'executions.id',
            '=',
            eb
              .selectFrom('executions as newest')
              .select('newest.id')
              .where('newest.workspace_id', '=', workspaceId)
              // `>= and <=` rather than `=`, and the order by workflow then id: only the (workspace_id,
              // workflow_id, id) index serves that order. With `=`, PostgreSQL drops the workflow
              // from the order and may walk the primary key instead, through every newer execution
              // of the other workflows (all of them, for a workflow that has not run for long).
              .whereRef('newest.workflow_id', '>=', 'workflows.id')
              .whereRef('newest.workflow_id', '<=', 'workflows.id')
              .where('newest.deleted_at', 'is', null)
              .orderBy('newest.workflow_id', 'desc')
              .orderBy('newest.id', 'desc')
              .limit(1),
          ),
        ),
      )
      .select([
        'executions.id',
        'executions.workflow_id',
        'executions.status',
        'executions.created_at',
        'executions.completed_at',
      ])
      .where('workflows.workspace_id', '=', workspaceId)
      .where('workflows.id', 'in', workflowIds)
      .execute();
    return new Map(rows.map((row) => [row.workflow_id as string, row]));
  }

  /** Changes an execution if its status is one of `from`; false when it was not. */
  async update(id: string, patch: Partial<ExecutionRow>, from: readonly string[]): Promise<boolean> {
    const result = await this.db
      .updateTable('executions')
      .set(patch)
      .where('id', '=', id)
      .where('status', 'in', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Counts settled steps on executions; returns how many remain unsettled and each status. */
  async countSettledMany(
    decrements: Array<{ id: string; settled: number }>,
  ): Promise<Array<{ id: string; steps_unsettled: number; status: string }>> {
    if (decrements.length === 0) return [];
    const result = await settledExecutionsUpdate(decrements).execute(this.db);
    return result.rows.map((row) => ({ ...row, steps_unsettled: Number(row.steps_unsettled) }));
  }

  /** Completes running or paused executions with a null output; returns the ids it completed. */
  async completeMany(ids: readonly string[], at: string): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db
      .updateTable('executions')
      .set({ status: 'completed', output: 'null', completed_at: at, steps_unsettled: 0, updated_at: at })
      .where('id', 'in', ids)
      .where('status', 'in', ['running', 'paused'])
      .returning('id')
      .execute();
    return new Set(rows.map((row) => row.id));
  }

  /** Running executions whose workflow timeout passed. */
  timedOut(now: number, limit: number): Promise<ExecutionRow[]> {
    return this.db
      .selectFrom('executions')
      .selectAll()
      .where('status', 'in', ['running', 'paused'])
      .where('timeout_at', '<=', now)
      .limit(limit)
      .execute();
  }

  /** Executions running now, in every workspace (metrics): a walk of `executions_timeout_idx` (status first). */
  async runningCount(): Promise<number> {
    const row = await this.db
      .selectFrom('executions')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .where('status', '=', 'running')
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** The newest active (pending, running, paused) executions of a workspace, for stream snapshots. */
  active(workspaceId: string, workflowId: string | undefined, limit: number): Promise<ExecutionRow[]> {
    let query = this.db
      .selectFrom('executions')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('status', 'in', ['pending', 'queued', 'running', 'paused'])
      .where('deleted_at', 'is', null)
      .orderBy('id', 'desc')
      .limit(limit);
    if (workflowId !== undefined) query = query.where('workflow_id', '=', workflowId);
    return query.execute();
  }

  /** Active executions of a workflow (for `DELETE /workflows/{id}?cancel_running=true`). */
  async activeIds(workspaceId: string, workflowId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('executions')
      .select('id')
      .where('workspace_id', '=', workspaceId)
      .where('workflow_id', '=', workflowId)
      .where('status', 'in', ['pending', 'queued', 'running', 'paused'])
      .execute();
    return rows.map((row) => row.id);
  }
}
