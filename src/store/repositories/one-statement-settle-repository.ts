import { type Kysely, sql } from 'kysely';
import type { Database, ExecutionEventRow, ExecutionStepRow, StepAttemptRow } from '../database-schema.js';
import type { CommittedLog } from './execution-log-repository.js';
import { settledExecutionsUpdateFrom } from './execution-repository.js';
import type { SettleEdge } from './settle-counter-repository.js';
import { type CompletedStepRow, completedStepsUpdate, SETTLE_CHUNK } from './step-repository.js';

/**
 * The settle of completed attempts as one PostgreSQL statement in autocommit: lock the
 * executions, complete the attempts, count them on their dependents and executions, claim the
 * dependents they made ready, and write the attempts and events. The same writes as the five
 * round trips of a settle transaction (BEGIN, lock and complete and count, claim, attempts and
 * events, COMMIT), in one; a chain step on PostgreSQL was mostly those round trips.
 *
 * It decides readiness for the one rule it knows (`all_success`: every dependency completed) in
 * the statement. Whatever needs the engine's other rules (a dependent to skip, a ready dependent
 * of an execution that is not running, an execution left with no unsettled step to finish) makes
 * the statement fail on purpose, so nothing of it is written, and the caller settles the same
 * outcomes through the settle transaction (`FALLBACK_MARK`).
 */

/** A step completed with its attempt's row and its `step.completed` event. */
export interface OneStatementCompletion {
  row: CompletedStepRow;
  attempt: StepAttemptRow;
  event: ExecutionEventRow;
}

/** A dependent the statement may claim, with its `step.started` event up to the attempt number. */
export interface OneStatementCandidate {
  executionId: string;
  stepId: string;
  /** The event row; its `data` is the JSON text up to `"attempt":`, completed by the statement. */
  event: ExecutionEventRow;
}

/**
 * What the statement wrote, as the settle transaction would have answered it. The executions of
 * claimed steps were running (a claim needs it); the rest of their rows never changes.
 */
export interface OneStatementSettled {
  /** The dependents claimed for `claimOwner` (rows after the claim). */
  claimed: ExecutionStepRow[];
}

/** The text the statement's deliberate failure carries, to tell it from any other error. */
export const FALLBACK_MARK = 'weft: the settle needs the settle transaction';

/** Whether `error` is the statement's deliberate failure (nothing was written). */
export function isFallback(error: unknown): boolean {
  return error instanceof Error && error.message.includes(FALLBACK_MARK);
}

/** Most rows of any one kind per statement; larger settles go through the transaction. */
export const ONE_STATEMENT_LIMIT = SETTLE_CHUNK;

/** The single-statement settle (PostgreSQL only). */
export class OneStatementSettleRepository {
  constructor(
    private readonly db: Kysely<Database>,
    /** Told what was written once the statement committed (the store's commit observers). */
    private readonly written: (log: CommittedLog) => void,
  ) {}

  /**
   * Runs the statement. `edges` are the completed steps' dependency edges, `candidates` every
   * dependent at their end (each claimed when it becomes ready). Throws the deliberate failure
   * (`isFallback`) when the engine must decide, having written nothing.
   */
  async settle(input: {
    executionIds: readonly string[];
    completions: readonly OneStatementCompletion[];
    owner: string;
    edges: readonly SettleEdge[];
    candidates: readonly OneStatementCandidate[];
    claimOwner: string;
    leaseUntil: number;
    at: string;
  }): Promise<OneStatementSettled> {
    const { completions, edges, candidates } = input;
    const rows = completions.map((completion) => completion.row);
    const edgeValues = edges.map((edge) => sql`(${edge.executionId}, ${edge.dependent}, ${edge.source})`);
    const attemptValues = completions.map(
      ({ attempt: a }) =>
        sql`(${a.execution_id}, ${a.step_id}, cast(${a.attempt} as integer), ${a.workspace_id}, ${a.type}, ${a.status},
             cast(${a.used_fallback} as integer), ${a.error}, ${a.worker}, ${a.queued_at}, ${a.started_at}, ${a.ended_at})`,
    );
    const completedEvents = completions.map(({ event: e }) => eventValues(e));
    const startedEvents = candidates.map(({ event: e }) => eventValues(e));
    // The claim, column by column: a dependent whose every dependency has now completed, of an
    // execution still running, becomes this process's running attempt; the others only count.
    const ready = sql`(v.running and s.deps_settled = s.deps_completed and s.deps_completed + v.n >= s.deps_total)`;
    const claim = (column: string, value: unknown) =>
      sql`${sql.ref(column)} = case when ${ready} then ${value} else ${sql.ref(`s.${column}`)} end`;
    const result = await sql<{ kind: string; row: Record<string, unknown> }>`
      with locked as (
        select * from executions where id in (${sql.join(input.executionIds)}) order by id for update
      ),
      done as (${completedStepsUpdate(rows, input.owner, 'locked')}),
      e as (${settledExecutionsUpdateFrom(
        sql`(select execution_id as column1, count(*)::integer as column2 from done group by execution_id)`,
      )}),
      inc as materialized (
        select x.column1 as execution_id, x.column2 as step_id, count(*)::integer as n,
               bool_and(locked.status = 'running') as running
        from (values ${sql.join(edgeValues)}) as x
        join done on done.execution_id = x.column1 and done.step_id = x.column3
        join locked on locked.id = x.column1
        group by x.column1, x.column2
      ),
      d as (
        update execution_steps as s
        set deps_settled = s.deps_settled + v.n, deps_completed = s.deps_completed + v.n,
            ${claim('status', sql`'running'`)},
            ${claim('lease_owner', input.claimOwner)},
            ${claim('lease_expires_at', sql`cast(${input.leaseUntil} as bigint)`)},
            ${claim('attempts', sql`s.attempts + 1`)},
            ${claim('queued_at', input.at)},
            ${claim('started_at', input.at)},
            ${claim('run_at', sql`cast(${Date.now()} as bigint)`)}
        from inc as v
        where s.execution_id = v.execution_id and s.step_id = v.step_id and s.status = 'pending'
        returning s.*
      ),
      recorded as (
        insert into step_attempts (execution_id, step_id, attempt, workspace_id, type, status, used_fallback,
                                   error, worker, queued_at, started_at, ended_at)
        select v.* from (values ${sql.join(attemptValues)}) as v
        join done on done.execution_id = v.column1 and done.step_id = v.column2
        on conflict (execution_id, step_id, attempt) do nothing
      ),
      appended as (
        insert into execution_events (id, workspace_id, execution_id, type, step_id, data, created_at)
        select v.* from (values ${sql.join(completedEvents)}) as v
          join done on done.execution_id = v.column3 and done.step_id = v.column5
        ${
          startedEvents.length > 0
            ? sql`union all
        select v.column1, v.column2, v.column3, v.column4, v.column5, v.column6 || d.attempts || '}', v.column7
          from (values ${sql.join(startedEvents)}) as v
          join d on d.execution_id = v.column3 and d.step_id = v.column5 and d.status = 'running'`
            : sql``
        }
      )
      select 'done' as kind, to_jsonb(done) as row from done
      union all select 'claimed', to_jsonb(d) from d where d.status = 'running'
      union all select 'check', to_jsonb(cast(case
        when exists (select 1 from d where d.status = 'pending'
                       and (d.deps_settled > d.deps_completed or d.deps_completed >= d.deps_total))
          or exists (select 1 from e where e.steps_unsettled <= 0)
        then ${FALLBACK_MARK} end as integer))`.execute(this.db);

    const settled: OneStatementSettled = { claimed: [] };
    const done = new Set<string>();
    for (const { kind, row } of result.rows) {
      if (kind === 'done') done.add(`${row.execution_id}/${row.step_id}`);
      else if (kind === 'claimed') settled.claimed.push(row as unknown as ExecutionStepRow);
    }
    this.report(completions, candidates, done, settled.claimed);
    return settled;
  }

  /** Hands the committed attempts and events to the store's observers, as the transaction would. */
  private report(
    completions: readonly OneStatementCompletion[],
    candidates: readonly OneStatementCandidate[],
    done: ReadonlySet<string>,
    claimed: readonly ExecutionStepRow[],
  ): void {
    const log: CommittedLog = { events: [], attempts: [] };
    for (const { row, attempt, event } of completions) {
      if (!done.has(`${row.executionId}/${row.stepId}`)) continue;
      log.attempts.push(attempt);
      log.events.push(event);
    }
    const attempts = new Map(claimed.map((row) => [`${row.execution_id}/${row.step_id}`, row.attempts]));
    for (const { executionId, stepId, event } of candidates) {
      const attempt = attempts.get(`${executionId}/${stepId}`);
      if (attempt !== undefined) log.events.push({ ...event, data: `${event.data}${attempt}}` });
    }
    if (log.events.length > 0) this.written(log);
  }
}

/** An event row as a VALUES row, in the column order of the insert. */
function eventValues(event: ExecutionEventRow) {
  return sql`(${event.id}, ${event.workspace_id}, ${event.execution_id}, ${event.type}, ${event.step_id}, ${event.data}, ${event.created_at})`;
}
