import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database, ExecutionRow, ExecutionStepRow } from '../database-schema.js';
import { inTransaction, type StoreDialect } from '../store-dialect.js';

/**
 * The engine's hot queries on `execution_steps`: claiming due steps under a lease, settling them,
 * counting settled dependencies, renewing and expiring leases. Every write is guarded by the
 * status (and lease owner) it expects, so a stale process changes nothing.
 */

/** A step claimed for running, with what the runner needs of its execution. */
export interface ClaimedStep extends ExecutionStepRow {
  /** Status before the claim: `queued` (a new attempt) or `waiting` (a timer that fired). */
  previous_status: string;
  execution_status: string;
  execution_input: string;
  execution_labels: string;
  workflow_id: string | null;
  workflow_version: number | null;
  adhoc_definition: string | null;
}

/** Which due steps a claim takes: those whose current attempt has one of `types`. */
export interface ClaimFilter {
  types: readonly string[];
  /** Only this workspace's steps (external workers); the engine claims across workspaces. */
  workspaceId?: string;
  /** Not these workspaces' steps (those holding their share of the engine's slots). */
  excludeWorkspaceIds?: readonly string[];
}

/** The counters of a dependent after one of its dependencies settled. */
export interface DependentCounters {
  step_id: string;
  deps_total: number;
  deps_settled: number;
  deps_completed: number;
}

/**
 * The update that counts settled dependencies on their pending dependents and returns their
 * counters (its own statement, or a CTE of the settle counters' combined one).
 */
export function dependentCountersUpdate(
  increments: ReadonlyArray<{ executionId: string; stepId: string; settled: number; completed: number }>,
): RawBuilder<DependentCounters & { execution_id: string }> {
  const values = increments.map(
    (row) =>
      sql`(${row.executionId}, ${row.stepId}, cast(${row.settled} as integer), cast(${row.completed} as integer))`,
  );
  return dependentCountersUpdateFrom(sql`(values ${sql.join(values)})`);
}

/**
 * `dependentCountersUpdate` from a relation of (execution id, step id, settled, completed) as
 * `column1` to `column4`: a VALUES list, or a query of a CTE.
 */
export function dependentCountersUpdateFrom(
  increments: RawBuilder<unknown>,
): RawBuilder<DependentCounters & { execution_id: string }> {
  return sql<DependentCounters & { execution_id: string }>`
    update execution_steps
    set deps_settled = deps_settled + v.column3, deps_completed = deps_completed + v.column4
    from ${increments} as v
    where execution_steps.execution_id = v.column1 and execution_steps.step_id = v.column2
      and execution_steps.status = 'pending'
    returning execution_id, step_id, deps_total, deps_settled, deps_completed`;
}

/** Rows per statement of the set-wise settle statements. */
export const SETTLE_CHUNK = 200;
const CHUNK = SETTLE_CHUNK;

/** A running attempt that completed: the step's new input and output text, and when it ended. */
export interface CompletedStepRow {
  executionId: string;
  stepId: string;
  attempt: number;
  input: string | null;
  output: string | null;
  at: string;
}

/**
 * The update that completes running attempts still leased by `owner` (at most SETTLE_CHUNK),
 * returning the steps it completed; `lockedCte`, when given, names a CTE of the executions it may
 * touch, read whole before any step (see SettleCounterRepository.lockAndComplete).
 */
export function completedStepsUpdate(rows: CompletedStepRow[], owner: string, lockedCte?: string) {
  const values = rows.map(
    (row) =>
      sql`(${row.executionId}, ${row.stepId}, cast(${row.attempt} as integer), ${row.input}, ${row.output}, ${row.at})`,
  );
  const locked = lockedCte
    ? sql`and execution_steps.execution_id = any(array(select id from ${sql.table(lockedCte)}))`
    : sql``;
  return sql<{ execution_id: string; step_id: string }>`
    update execution_steps
    set status = 'completed', input = v.column4, output = v.column5, error = null, completed_at = v.column6,
        lease_owner = null, lease_expires_at = null
    from (values ${sql.join(values)}) as v
    where execution_steps.execution_id = v.column1 and execution_steps.step_id = v.column2
      and execution_steps.attempts = v.column3 and execution_steps.status = 'running'
      and execution_steps.lease_owner = ${owner} ${locked}
    returning execution_steps.execution_id, execution_steps.step_id`;
}

/** Every column of `execution_steps`, for RETURNING lists that must not include joined tables. */
const STEP_COLUMNS: ReadonlyArray<keyof ExecutionStepRow> = [
  'execution_id',
  'step_id',
  'workspace_id',
  'position',
  'type',
  'attempt_type',
  'status',
  'skip_reason',
  'deps_total',
  'deps_settled',
  'deps_completed',
  'attempts',
  'attempt_base',
  'lost_attempts',
  'used_fallback',
  'input',
  'output',
  'error',
  'run_at',
  'lease_owner',
  'lease_expires_at',
  'queued_at',
  'started_at',
  'completed_at',
  'child_execution_id',
];

type ClaimingExecution = Pick<
  ExecutionRow,
  'id' | 'status' | 'input' | 'labels' | 'workflow_id' | 'workflow_version' | 'adhoc_definition'
>;

/** A claimed row with what the runner needs of its execution (epoch columns as numbers). */
function toClaimed(row: ExecutionStepRow & { previous_status: string }, execution: ClaimingExecution): ClaimedStep {
  return {
    ...row,
    run_at: row.run_at === null ? null : Number(row.run_at),
    lease_expires_at: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
    execution_status: execution.status,
    execution_input: execution.input,
    execution_labels: execution.labels,
    workflow_id: execution.workflow_id,
    workflow_version: execution.workflow_version,
    adhoc_definition: execution.adhoc_definition,
  };
}

export class StepRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Inserts the steps of a new execution. */
  async insertMany(rows: ExecutionStepRow[]): Promise<void> {
    for (let start = 0; start < rows.length; start += CHUNK) {
      await this.db
        .insertInto('execution_steps')
        .values(rows.slice(start, start + CHUNK))
        .execute();
    }
  }

  /**
   * Claims up to `limit` due steps (queued or waiting with `run_at <= now`) of running executions
   * whose current attempt has one of `filter.types` (of one workspace when named), for `owner`
   * until `leaseUntil`. On PostgreSQL concurrent claimers skip each other's rows.
   */
  async claimDue(
    owner: string,
    now: number,
    leaseUntil: number,
    startedAt: string,
    limit: number,
    filter: ClaimFilter,
  ): Promise<ClaimedStep[]> {
    if (filter.types.length === 0) return [];
    const workspace = filter.workspaceId === undefined ? sql`` : sql`and es.workspace_id = ${filter.workspaceId}`;
    const excluded = filter.excludeWorkspaceIds ?? [];
    const notExcluded =
      excluded.length === 0 ? sql`` : sql`and es.workspace_id not in (${sql.join(excluded.map((id) => sql`${id}`))})`;
    if (this.dialect.name === 'postgres') {
      const rows = await sql<ExecutionStepRow & { previous_status: string }>`
        with due as (
          select es.execution_id, es.step_id, es.status as previous_status
          from execution_steps es
          join executions e on e.id = es.execution_id
          where es.status in ('queued', 'waiting') and es.run_at <= ${now} and e.status = 'running'
            and es.attempt_type in (${sql.join(filter.types)}) ${workspace} ${notExcluded}
          order by es.run_at
          limit ${limit}
          for update of es skip locked
        )
        update execution_steps
        set status = 'running',
            lease_owner = ${owner},
            lease_expires_at = ${leaseUntil},
            attempts = case when due.previous_status = 'queued' then execution_steps.attempts + 1 else execution_steps.attempts end,
            started_at = case when due.previous_status = 'queued' then ${startedAt} else execution_steps.started_at end
        from due
        where execution_steps.execution_id = due.execution_id and execution_steps.step_id = due.step_id
        returning execution_steps.*, due.previous_status`.execute(this.db);
      return this.withExecutions(rows.rows);
    }
    // SQLite has one writer and cannot return FROM columns: select, then update, in one transaction.
    return inTransaction(this.db, async (trx) => {
      let query = trx
        .selectFrom('execution_steps')
        .innerJoin('executions', 'executions.id', 'execution_steps.execution_id')
        .select(['execution_steps.execution_id', 'execution_steps.step_id', 'execution_steps.status'])
        .where('execution_steps.status', 'in', ['queued', 'waiting'])
        .where('execution_steps.run_at', '<=', now)
        .where('executions.status', '=', 'running')
        .where('execution_steps.attempt_type', 'in', filter.types);
      if (filter.workspaceId !== undefined)
        query = query.where('execution_steps.workspace_id', '=', filter.workspaceId);
      if (excluded.length > 0) query = query.where('execution_steps.workspace_id', 'not in', excluded);
      const due = await query.orderBy('execution_steps.run_at').limit(limit).execute();
      if (due.length === 0) return [];
      // One statement for the whole claim; a waiting step (a fired timer) keeps its attempt.
      const previous = new Map(due.map((row) => [`${row.execution_id}/${row.step_id}`, row.status]));
      const values = due.map((row) => sql`(${row.execution_id}, ${row.step_id})`);
      const updated = await sql<ExecutionStepRow>`
        update execution_steps
        set attempts = case when status = 'queued' then attempts + 1 else attempts end,
            started_at = case when status = 'queued' then ${startedAt} else started_at end,
            status = 'running', lease_owner = ${owner}, lease_expires_at = ${leaseUntil}
        from (values ${sql.join(values)}) as v
        where execution_steps.execution_id = v.column1 and execution_steps.step_id = v.column2
          and execution_steps.status in ('queued', 'waiting')
        returning ${sql.join(STEP_COLUMNS.map((column) => sql.ref(column)))}`.execute(trx);
      const claimed = updated.rows.map((row) => ({
        ...row,
        previous_status: previous.get(`${row.execution_id}/${row.step_id}`) ?? 'queued',
      }));
      return this.withExecutions(claimed, trx);
    });
  }

  /** The claimed view of a row claimed by `claimPendingMany`. */
  static claimed(row: ExecutionStepRow, execution: ClaimingExecution): ClaimedStep {
    return toClaimed({ ...row, previous_status: 'queued' }, execution);
  }

  private async withExecutions(
    rows: Array<ExecutionStepRow & { previous_status: string }>,
    db: Kysely<Database> = this.db,
  ): Promise<ClaimedStep[]> {
    if (rows.length === 0) return [];
    const ids = [...new Set(rows.map((row) => row.execution_id))];
    const executions = await db
      .selectFrom('executions')
      .select(['id', 'status', 'input', 'labels', 'workflow_id', 'workflow_version', 'adhoc_definition'])
      .where('id', 'in', ids)
      .execute();
    const byId = new Map(executions.map((execution) => [execution.id, execution]));
    return rows.flatMap((row) => {
      const execution = byId.get(row.execution_id);
      return execution ? [toClaimed(row, execution)] : [];
    });
  }

  /** One step row. */
  get(executionId: string, stepId: string): Promise<ExecutionStepRow | undefined> {
    return this.db
      .selectFrom('execution_steps')
      .selectAll()
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .executeTakeFirst();
  }

  /** Steps of an execution, in definition order; `stepIds` restricts them. */
  list(executionId: string, stepIds?: readonly string[]): Promise<ExecutionStepRow[]> {
    let query = this.db.selectFrom('execution_steps').selectAll().where('execution_id', '=', executionId);
    if (stepIds) {
      if (stepIds.length === 0) return Promise.resolve([]);
      query = query.where('step_id', 'in', stepIds);
    }
    return query.orderBy('position').execute();
  }

  /**
   * Updates a step if it is still in one of `expected` statuses, held by `owner` and at attempt
   * `attempt` when given (so a late outcome of an old attempt never settles a newer one).
   */
  async update(
    executionId: string,
    stepId: string,
    patch: Partial<ExecutionStepRow>,
    guard: {
      statuses: readonly string[];
      owner?: string;
      attempt?: number;
      leaseExpiredBefore?: number;
      /** Only while the lease is still valid at this time (epoch ms). */
      leaseValidAt?: number;
    },
  ): Promise<boolean> {
    let query = this.db
      .updateTable('execution_steps')
      .set(patch)
      .where('execution_id', '=', executionId)
      .where('step_id', '=', stepId)
      .where('status', 'in', guard.statuses);
    if (guard.owner !== undefined) query = query.where('lease_owner', '=', guard.owner);
    if (guard.attempt !== undefined) query = query.where('attempts', '=', guard.attempt);
    if (guard.leaseExpiredBefore !== undefined) query = query.where('lease_expires_at', '<', guard.leaseExpiredBefore);
    if (guard.leaseValidAt !== undefined) query = query.where('lease_expires_at', '>=', guard.leaseValidAt);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Completes many running steps in one statement (guarded like `update`: still running, held by
   * `owner`, at the same attempt). Returns the `execution_id/step_id` keys it completed.
   */
  async completeMany(rows: CompletedStepRow[], owner: string): Promise<Set<string>> {
    const done = new Set<string>();
    for (let start = 0; start < rows.length; start += CHUNK) {
      const result = await completedStepsUpdate(rows.slice(start, start + CHUNK), owner).execute(this.db);
      for (const row of result.rows) done.add(`${row.execution_id}/${row.step_id}`);
    }
    return done;
  }

  /** Counts settled (and completed) dependencies on pending dependents; returns their counters. */
  async countSettledDependencies(
    increments: Array<{ executionId: string; stepId: string; settled: number; completed: number }>,
  ): Promise<Array<DependentCounters & { execution_id: string }>> {
    const counters: Array<DependentCounters & { execution_id: string }> = [];
    for (let start = 0; start < increments.length; start += CHUNK) {
      const result = await dependentCountersUpdate(increments.slice(start, start + CHUNK)).execute(this.db);
      counters.push(...result.rows);
    }
    return counters;
  }

  /** Claims ready steps straight from `pending` for `owner` (many executions, one statement). */
  async claimPendingMany(
    steps: Array<{ executionId: string; stepId: string }>,
    owner: string,
    leaseUntil: number,
    at: string,
  ): Promise<ExecutionStepRow[]> {
    const claimed: ExecutionStepRow[] = [];
    for (let start = 0; start < steps.length; start += CHUNK) {
      const values = steps.slice(start, start + CHUNK).map((step) => sql`(${step.executionId}, ${step.stepId})`);
      const result = await sql<ExecutionStepRow>`
        update execution_steps
        set status = 'running', lease_owner = ${owner}, lease_expires_at = ${leaseUntil}, attempts = attempts + 1,
            queued_at = ${at}, started_at = ${at}, run_at = ${Date.now()}
        from (values ${sql.join(values)}) as v
        where execution_steps.execution_id = v.column1 and execution_steps.step_id = v.column2
          and execution_steps.status = 'pending'
        returning ${sql.join(STEP_COLUMNS.map((column) => sql.ref(column)))}`.execute(this.db);
      claimed.push(...result.rows);
    }
    return claimed;
  }

  /** Moves pending steps to queued, due at `runAt`. Returns how many moved. */
  async queue(executionId: string, stepIds: readonly string[], runAt: number, queuedAt: string): Promise<number> {
    if (stepIds.length === 0) return 0;
    const result = await this.db
      .updateTable('execution_steps')
      .set({ status: 'queued', run_at: runAt, queued_at: queuedAt })
      .where('execution_id', '=', executionId)
      .where('step_id', 'in', stepIds)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /**
   * Cancels every unsettled step of an execution; returns the ids of those that were running, and
   * the rows (as they were) of the steps whose attempt was under way (running or waiting).
   */
  async cancelUnsettled(
    executionId: string,
    completedAt: string,
  ): Promise<{ cancelled: number; running: string[]; underway: ExecutionStepRow[] }> {
    return inTransaction(this.db, async (trx) => {
      // RETURNING shows new values, so the attempts under way are read first, in the same transaction.
      const underway = await trx
        .selectFrom('execution_steps')
        .selectAll()
        .where('execution_id', '=', executionId)
        .where('status', 'in', ['running', 'waiting'])
        .orderBy('position')
        .execute();
      const result = await trx
        .updateTable('execution_steps')
        .set({
          status: 'cancelled',
          completed_at: completedAt,
          lease_owner: null,
          lease_expires_at: null,
          run_at: null,
        })
        .where('execution_id', '=', executionId)
        .where('status', 'in', ['pending', 'queued', 'running', 'waiting'])
        .executeTakeFirst();
      return {
        cancelled: Number(result.numUpdatedRows),
        running: underway.filter((row) => row.status === 'running').map((row) => row.step_id),
        underway,
      };
    });
  }

  /** The earliest `run_at` of a queued or waiting step of a running execution that `filter` claims. */
  async nextDueAt(filter: ClaimFilter): Promise<number | undefined> {
    if (filter.types.length === 0) return undefined;
    let query = earliestDueStep(this.db, filter.types);
    if (filter.workspaceId !== undefined) query = query.where('execution_steps.workspace_id', '=', filter.workspaceId);
    const row = await query.executeTakeFirst();
    return row?.next === null || row?.next === undefined ? undefined : Number(row.next);
  }

  /** Which of these executions have a failed step. */
  async executionsWithFailedSteps(executionIds: readonly string[]): Promise<Set<string>> {
    if (executionIds.length === 0) return new Set();
    const rows = await this.db
      .selectFrom('execution_steps')
      .select('execution_id')
      .distinct()
      .where('execution_id', 'in', executionIds)
      .where('status', '=', 'failed')
      .execute();
    return new Set(rows.map((row) => row.execution_id));
  }

  /** Step counts by status for one execution. */
  async countByStatus(executionId: string): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('execution_steps')
      .select(['status', (eb) => eb.fn.countAll<number>().as('count')])
      .where('execution_id', '=', executionId)
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
  }

  /**
   * For a page of executions: step counts by status and the ids of running steps, per execution
   * (two grouped queries, whatever the number of steps).
   */
  async tallies(executionIds: readonly string[]): Promise<Map<string, StepTally>> {
    const tallies = new Map<string, StepTally>(executionIds.map((id) => [id, { counts: {}, running: [] }]));
    if (executionIds.length === 0) return tallies;
    const [counts, running] = await Promise.all([
      this.db
        .selectFrom('execution_steps')
        .select(['execution_id', 'status', (eb) => eb.fn.countAll<number>().as('count')])
        .where('execution_id', 'in', executionIds)
        .groupBy(['execution_id', 'status'])
        .execute(),
      this.db
        .selectFrom('execution_steps')
        .select(['execution_id', 'step_id'])
        .where('execution_id', 'in', executionIds)
        .where('status', '=', 'running')
        .orderBy('execution_id')
        .orderBy('position')
        .execute(),
    ]);
    for (const row of counts) {
      const tally = tallies.get(row.execution_id);
      if (tally) tally.counts[row.status] = Number(row.count);
    }
    for (const row of running) tallies.get(row.execution_id)?.running.push(row.step_id);
    return tallies;
  }
}

/** Steps of one execution by status, and the ids of those running (for progress in lists). */
export interface StepTally {
  counts: Record<string, number>;
  running: string[];
}

/**
 * The earliest `run_at` (as `next`) of a queued or waiting step of `types` in a running execution:
 * `nextDueAt`, and a column of the sweep's one read (sweep-repository.ts). `types` is not empty.
 */
export function earliestDueStep(db: Kysely<Database>, types: readonly string[]) {
  return db
    .selectFrom('execution_steps')
    .innerJoin('executions', 'executions.id', 'execution_steps.execution_id')
    .select((eb) => eb.fn.min('execution_steps.run_at').as('next'))
    .where('execution_steps.status', 'in', ['queued', 'waiting'])
    .where('executions.status', '=', 'running')
    .where('execution_steps.attempt_type', 'in', types);
}
