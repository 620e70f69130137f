import { type Expression, type Kysely, sql } from 'kysely';
import type { Database } from '../database-schema.js';
import type { StoreDialect } from '../store-dialect.js';

/**
 * Aggregates for `GET /executions/stats`, `GET /workflows/{id}/metrics` and the Prometheus queue
 * gauges. Percentiles are nearest-rank (the value at rank ⌈p·n⌉ of the sorted durations),
 * computed in the database with window functions that SQLite and PostgreSQL share, so no
 * duration list ever travels to the process.
 */

/** Which executions an aggregate covers. */
export interface StatsFilter {
  workflowId?: string | undefined;
  /** Executions created at or after this ISO 8601 time. */
  since?: string | undefined;
}

/** Nearest-rank percentiles of a set of durations (null when the set is empty). */
export interface DurationSummary {
  count: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** A count per (group, status). */
export interface StatusCount {
  key: string | null;
  status: string;
  count: number;
}

/** Statuses whose duration (`started_at` to `completed_at`) is measured: the engine ended them. */
const MEASURED_EXECUTIONS = ['completed', 'failed'];
/** Attempt outcomes whose duration is measured: lost or interrupted ones time the lease, not the work. */
const MEASURED_ATTEMPTS = ['completed', 'failed'];

/** Nearest rank ⌈p·n/100⌉ in integer arithmetic, which both databases do alike. */
const rank = (percent: number) => sql.raw(`(n * ${percent} + 99) / 100`);

/**
 * The aggregate reads, as the rest of Weft sees them: `StatsRepository` on the store's own
 * connection, or `SqliteStatsReader` (the same queries in a worker thread, for a SQLite file).
 */
export type StatsReads = Pick<
  StatsRepository,
  'executionCounts' | 'executionDurations' | 'attemptCounts' | 'attemptDurations' | 'stepBacklog'
>;

/** Aggregate reads over executions, attempts and steps (read-only). */
export class StatsRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Pick<StoreDialect, 'millisBetween'>,
  ) {}

  /** Executions of a workspace counted by workflow (`key`; null for ad-hoc runs) and status. */
  async executionCounts(workspaceId: string, filter: StatsFilter): Promise<StatusCount[]> {
    const rows = await this.executions(workspaceId, filter)
      .select(['workflow_id as key', 'status', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy(['workflow_id', 'status'])
      .execute();
    return rows.map((row) => ({ key: row.key, status: row.status, count: Number(row.count) }));
  }

  /** Durations of finished (completed or failed) executions in milliseconds, per workflow. */
  async executionDurations(workspaceId: string, filter: StatsFilter): Promise<Map<string | null, DurationSummary>> {
    const measured = this.executions(workspaceId, filter)
      .where('status', 'in', MEASURED_EXECUTIONS)
      .where('started_at', 'is not', null)
      .where('completed_at', 'is not', null)
      .select(['workflow_id as bucket', this.millis('started_at', 'completed_at')]);
    return this.summarise(measured);
  }

  /** Attempts of a workflow's executions counted by step (`key`) and outcome. */
  async attemptCounts(workspaceId: string, workflowId: string, since: string | undefined): Promise<StatusCount[]> {
    const rows = await this.attempts(workspaceId, workflowId, since)
      .select(['a.step_id as key', 'a.status', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy(['a.step_id', 'a.status'])
      .execute();
    return rows.map((row) => ({ key: row.key, status: row.status, count: Number(row.count) }));
  }

  /** Durations of a workflow's completed and failed attempts in milliseconds, per step. */
  async attemptDurations(
    workspaceId: string,
    workflowId: string,
    since: string | undefined,
  ): Promise<Map<string | null, DurationSummary>> {
    const measured = this.attempts(workspaceId, workflowId, since)
      .where('a.status', 'in', MEASURED_ATTEMPTS)
      .where('a.started_at', 'is not', null)
      .where('a.ended_at', 'is not', null)
      .select(['a.step_id as bucket', this.millis('a.started_at', 'a.ended_at')]);
    return this.summarise(measured);
  }

  /**
   * Steps waiting to run or running, across workspaces, by current attempt type and state:
   * `ready` (queued and due), `delayed` (queued for a retry later), `waiting` (a durable timer),
   * `running`. Each query matches a partial index, so it reads only those rows.
   */
  async stepBacklog(now: number): Promise<Array<{ type: string; state: string; count: number }>> {
    const queued = await this.db
      .selectFrom('execution_steps')
      .where('status', 'in', ['queued', 'waiting'])
      .select([
        'attempt_type as type',
        sql<string>`case when status = 'waiting' then 'waiting' when run_at <= ${now} then 'ready' else 'delayed' end`.as(
          'state',
        ),
        (eb) => eb.fn.countAll<number>().as('count'),
      ])
      .groupBy(['attempt_type', 'state'])
      .execute();
    const running = await this.db
      .selectFrom('execution_steps')
      .where('status', '=', 'running')
      .select(['attempt_type as type', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy('attempt_type')
      .execute();
    return [
      ...queued.map((row) => ({ type: row.type, state: row.state, count: Number(row.count) })),
      ...running.map((row) => ({ type: row.type, state: 'running', count: Number(row.count) })),
    ];
  }

  private executions(workspaceId: string, filter: StatsFilter) {
    let query = this.db
      .selectFrom('executions')
      .where('workspace_id', '=', workspaceId)
      .where('deleted_at', 'is', null);
    if (filter.workflowId !== undefined) query = query.where('workflow_id', '=', filter.workflowId);
    if (filter.since !== undefined) query = query.where('created_at', '>=', filter.since);
    return query;
  }

  private attempts(workspaceId: string, workflowId: string, since: string | undefined) {
    let query = this.db
      .selectFrom('step_attempts as a')
      .innerJoin('executions as e', 'e.id', 'a.execution_id')
      .where('a.workspace_id', '=', workspaceId)
      .where('e.workspace_id', '=', workspaceId)
      .where('e.workflow_id', '=', workflowId)
      .where('e.deleted_at', 'is', null);
    if (since !== undefined) query = query.where('e.created_at', '>=', since);
    return query;
  }

  private millis(from: string, to: string) {
    const expression: Expression<number | null> = this.dialect.millisBetween(from, to);
    return sql<number>`${expression}`.as('ms');
  }

  /** p50, p95 and max of `ms` per `bucket`, from a query selecting those two columns. */
  private async summarise(measured: Expression<unknown>): Promise<Map<string | null, DurationSummary>> {
    const { rows } = await sql<{
      bucket: string | null;
      count: number;
      p50: number | null;
      p95: number | null;
      max: number | null;
    }>`select bucket, max(n) as count,
        max(case when rn = ${rank(50)} then ms end) as p50,
        max(case when rn = ${rank(95)} then ms end) as p95,
        max(ms) as max
      from (
        select bucket, ms,
          row_number() over (partition by bucket order by ms) as rn,
          count(*) over (partition by bucket) as n
        from (${measured}) as measured
        where ms is not null
      ) as ranked
      group by bucket`.execute(this.db);
    const number = (value: unknown) => (value === null || value === undefined ? null : Number(value));
    return new Map(
      rows.map((row) => [
        row.bucket,
        { count: Number(row.count), p50: number(row.p50), p95: number(row.p95), max: number(row.max) },
      ]),
    );
  }
}
