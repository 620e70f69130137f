import type { Kysely, QueryCreator } from 'kysely';
import { newId } from '../../ids.js';
import type { Database, ExecutionEventRow, StepAttemptRow } from '../database-schema.js';
import { decodeCursor, type PageRequest, toPage } from '../pagination.js';

/** An event to append to an execution's log. */
export interface NewEvent {
  workspaceId: string;
  executionId: string;
  type: string;
  stepId?: string | null | undefined;
  data: Record<string, unknown>;
  at: string;
}

/** An event as the API shows it. */
export interface ExecutionEvent {
  id: string;
  execution_id: string;
  type: string;
  step_id: string | null;
  data: Record<string, unknown>;
  created_at: string;
}

function toEvent(row: ExecutionEventRow): ExecutionEvent {
  return {
    id: row.id,
    execution_id: row.execution_id,
    type: row.type,
    step_id: row.step_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
    created_at: row.created_at,
  };
}

/**
 * The `weft_events` announcement of an event: its row as JSON. The PostgreSQL trigger of
 * migration 0004 builds the same shape, without `data` (and with `truncated: true`) when the
 * payload would pass NOTIFY's 8 kB limit.
 */
export function eventPayload(row: ExecutionEventRow): string {
  return `{"id":${JSON.stringify(row.id)},"workspace_id":${JSON.stringify(row.workspace_id)},"execution_id":${JSON.stringify(row.execution_id)},"type":${JSON.stringify(row.type)},"step_id":${JSON.stringify(row.step_id)},"created_at":${JSON.stringify(row.created_at)},"data":${row.data}}`;
}

/** Rows per insert statement. */
const ROWS_PER_INSERT = 200;

/** The insert of attempt rows; an attempt recorded already is left as it is. */
function attemptsInsert(db: QueryCreator<Database>, rows: StepAttemptRow[]) {
  return db
    .insertInto('step_attempts')
    .values(rows)
    .onConflict((conflict) => conflict.columns(['execution_id', 'step_id', 'attempt']).doNothing());
}

/** The row of a new event. */
function eventRow(event: NewEvent): ExecutionEventRow {
  return {
    id: newId('evt'),
    workspace_id: event.workspaceId,
    execution_id: event.executionId,
    type: event.type,
    step_id: event.stepId ?? null,
    data: JSON.stringify(event.data),
    created_at: event.at,
  };
}

/** What one committed transaction wrote to execution logs. */
export interface CommittedLog {
  events: ExecutionEventRow[];
  attempts: StepAttemptRow[];
  /** What it told its observers beside the rows (`Store.note`), when anything. */
  notes?: CommitNote[];
}

/**
 * A fact a transaction tells this process's commit observers beside its rows, delivered with them
 * at commit and never for a rollback: what the rows do not say, for the process log and metrics
 * (src/engine/engine-log.ts, src/metrics/). Ids, statuses, times and messages only.
 */
export type CommitNote = ExecutionEndedNote | LeaseRecoveredNote;

/** An execution ended; its `workflow.completed`, `.failed` or `.cancelled` event is in the same commit. */
export interface ExecutionEndedNote {
  kind: 'execution_ended';
  workspaceId: string;
  executionId: string;
  /** Null for an ad-hoc run. */
  workflowId: string | null;
  status: 'completed' | 'failed' | 'cancelled';
  /** When it started (a resumed execution keeps its first start); null when it never did. */
  startedAt: string | null;
  endedAt: string;
  /** Why it failed or was cancelled, when a message says. */
  error: string | undefined;
}

/** A lease on a running step (or `for_each` item) taken back from its holder by this process. */
export interface LeaseRecoveredNote {
  kind: 'lease_recovered';
  /** `engine`: a Weft process died or stalled; `worker`: an external worker stopped heartbeating. */
  holder: 'engine' | 'worker';
  /** `expired`: the lease ran out; `restart`: its holder was an earlier incarnation of this process. */
  cause: 'expired' | 'restart';
  /** The engine's lease owner, or the worker's id (never a task's lease nonce). */
  owner: string;
  workspaceId: string;
  executionId: string;
  stepId: string;
  /** The item of a `for_each` step, or null for the step itself. */
  item: number | null;
  attempt: number;
}

/** Receives each commit's log writes, in the process that committed (see `Store.observeCommits`). */
export type CommitObserver = (log: CommittedLog) => void;

/** The attempts of steps and the event log of executions. */
export class ExecutionLogRepository {
  constructor(
    private readonly db: Kysely<Database>,
    /** Announces each appended event (SQLite; on PostgreSQL a trigger does it). */
    private readonly announce?: (payload: string) => void,
    /** Told what was written, for the store's commit observers. */
    private readonly written?: (log: CommittedLog) => void,
    /** Whether attempts and events may be written by one statement (PostgreSQL's writable CTEs). */
    private readonly combineWrites = false,
  ) {}

  /**
   * `recordAttempts` and `append` together: on PostgreSQL one statement (an insert in a CTE), a
   * round trip fewer per settle; else, or past one chunk, the two calls.
   */
  async recordAndAppend(attempts: StepAttemptRow[], events: NewEvent[]): Promise<void> {
    if (
      !this.combineWrites ||
      attempts.length === 0 ||
      events.length === 0 ||
      attempts.length > ROWS_PER_INSERT ||
      events.length > ROWS_PER_INSERT
    ) {
      await this.recordAttempts(attempts);
      await this.append(events);
      return;
    }
    const rows = events.map(eventRow);
    await this.db
      .with('recorded', (db) => attemptsInsert(db, attempts))
      .insertInto('execution_events')
      .values(rows)
      .execute();
    this.written?.({ events: rows, attempts });
  }

  /** Records attempts (once they have an outcome); a repeated one is ignored. */
  async recordAttempts(rows: StepAttemptRow[]): Promise<void> {
    for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
      await attemptsInsert(this.db, rows.slice(start, start + ROWS_PER_INSERT)).execute();
    }
    if (rows.length > 0) this.written?.({ events: [], attempts: rows });
  }

  /** Attempts of an execution, by step and attempt number. */
  attempts(executionId: string): Promise<StepAttemptRow[]> {
    return this.db
      .selectFrom('step_attempts')
      .selectAll()
      .where('execution_id', '=', executionId)
      .orderBy('step_id')
      .orderBy('attempt')
      .execute();
  }

  /** Appends events; returns them with their ids. */
  async append(events: NewEvent[]): Promise<ExecutionEvent[]> {
    if (events.length === 0) return [];
    const rows = events.map(eventRow);
    for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
      await this.db
        .insertInto('execution_events')
        .values(rows.slice(start, start + ROWS_PER_INSERT))
        .execute();
    }
    if (this.announce) for (const row of rows) this.announce(eventPayload(row));
    this.written?.({ events: rows, attempts: [] });
    return rows.map(toEvent);
  }

  /** Ids of every event of these executions (streams use them to drop events a snapshot covers). */
  async eventIds(executionIds: readonly string[]): Promise<string[]> {
    const ids: string[] = [];
    for (let start = 0; start < executionIds.length; start += 200) {
      const rows = await this.db
        .selectFrom('execution_events')
        .select('id')
        .where('execution_id', 'in', executionIds.slice(start, start + 200))
        .execute();
      for (const row of rows) ids.push(row.id);
    }
    return ids;
  }

  /** One event by id (a `weft_events` announcement too large to carry its data names it). */
  async get(id: string): Promise<(ExecutionEvent & { workspace_id: string }) | undefined> {
    const row = await this.db.selectFrom('execution_events').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? { ...toEvent(row), workspace_id: row.workspace_id } : undefined;
  }

  /** Events of an execution, newest first like every list, or oldest first with `order: 'asc'`. */
  async events(
    executionId: string,
    page: PageRequest,
    order: 'asc' | 'desc' = 'desc',
  ): Promise<{ items: ExecutionEvent[]; next_cursor: string | null }> {
    let query = this.db
      .selectFrom('execution_events')
      .selectAll()
      .where('execution_id', '=', executionId)
      .orderBy('id', order)
      .limit(page.limit + 1);
    if (page.cursor) query = query.where('id', order === 'asc' ? '>' : '<', decodeCursor(page.cursor));
    return toPage(await query.execute(), page.limit, toEvent);
  }
}
