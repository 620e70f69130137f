import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Aggregates that stay fast at 100,000 executions (issue 13). `GET /executions/stats` and
 * `GET /workflows/{id}/metrics` parsed two timestamps of every execution and sorted the
 * durations with a window function: about 0.5 s at 100,000 executions. Now:
 * - `executions.duration_ms` is a generated column (completed and failed executions that
 *   started: `completed_at - started_at` in ms; null otherwise), so no writer has to keep it and
 *   no row can disagree with its timestamps. Virtual on SQLite (computed on read, stored in the
 *   indexes), stored on PostgreSQL (whose generated columns need an immutable expression:
 *   `weft_millis_between`, immutable because every stored time is UTC ISO 8601 with a `Z`).
 * - `step_attempts.duration_ms` likewise (`ended_at - started_at` of a completed or failed
 *   attempt), so a workflow's step metrics count their durations without parsing times.
 * - `executions_stats_idx` (workspace_id, workflow_id, status, created_at, duration_ms) over
 *   live rows: the counts per workflow and status read this index alone.
 * - `executions_durations_idx` (workspace_id, workflow_id, duration_ms, created_at) over live,
 *   measured rows: a percentile is a walk of one workflow's durations in order to its rank.
 * - `step_attempts_stats_idx` (execution_id, step_id, status, duration_ms): a workflow's step
 *   metrics join its executions to their attempts and read this index, not the attempt rows.
 * Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, context: MigrationContext): Promise<void> {
  if (context.backend === 'postgres') {
    await sql`
      create function weft_millis_between(from_at text, to_at text) returns bigint
      language sql immutable parallel safe
      as $$ select round(extract(epoch from (to_at::timestamptz - from_at::timestamptz)) * 1000)::bigint $$`.execute(
      db,
    );
    await sql`
      alter table executions add column duration_ms bigint generated always as (
        case when status in ('completed', 'failed') then weft_millis_between(started_at, completed_at) end
      ) stored`.execute(db);
    await sql`
      alter table step_attempts add column duration_ms bigint generated always as (
        case when status in ('completed', 'failed') then weft_millis_between(started_at, ended_at) end
      ) stored`.execute(db);
  } else {
    await sql`
      alter table executions add column duration_ms integer generated always as (
        case when status in ('completed', 'failed') and started_at is not null and completed_at is not null
          then cast(round((julianday(completed_at) - julianday(started_at)) * 86400000.0) as integer) end
      ) virtual`.execute(db);
    await sql`
      alter table step_attempts add column duration_ms integer generated always as (
        case when status in ('completed', 'failed') and started_at is not null and ended_at is not null
          then cast(round((julianday(ended_at) - julianday(started_at)) * 86400000.0) as integer) end
      ) virtual`.execute(db);
  }
  await sql`
    create index executions_stats_idx on executions (workspace_id, workflow_id, status, created_at, duration_ms)
    where deleted_at is null`.execute(db);
  await sql`
    create index executions_durations_idx on executions (workspace_id, workflow_id, duration_ms, created_at)
    where deleted_at is null and duration_ms is not null`.execute(db);
  await sql`
    create index step_attempts_stats_idx on step_attempts (execution_id, step_id, status, duration_ms)`.execute(db);
}
