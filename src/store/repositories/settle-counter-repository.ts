import { type Kysely, sql } from 'kysely';
import type { Database, ExecutionRow } from '../database-schema.js';
import type { StoreDialect } from '../store-dialect.js';
import {
  type ExecutionRepository,
  settledExecutionsUpdate,
  settledExecutionsUpdateFrom,
} from './execution-repository.js';
import {
  type CompletedStepRow,
  completedStepsUpdate,
  type DependentCounters,
  dependentCountersUpdate,
  dependentCountersUpdateFrom,
  SETTLE_CHUNK,
  type StepRepository,
} from './step-repository.js';

/** A dependency edge of a step being completed: `dependent` waits on `source`. */
export interface SettleEdge {
  executionId: string;
  source: string;
  dependent: string;
}

/** What `lockAndComplete` did: the locked executions, the completed steps, and the counters. */
export interface LockedCompletion {
  executions: ExecutionRow[];
  /** `execution_id/step_id` of the steps it completed. */
  done: Set<string>;
  /** False when it was given no edges: `counters` and `settled` are then empty, not counted. */
  counted: boolean;
  /** The pending dependents' counters after the count. */
  counters: Array<DependentCounters & { execution_id: string }>;
  /** The executions' unsettled steps after the count. */
  settled: Array<{ id: string; steps_unsettled: number; status: string }>;
}

/** The counts of the edges whose source completed: per dependent, and per execution. */
function countsOf(done: ReadonlySet<string>, edges: readonly SettleEdge[]) {
  const increments = new Map<string, { executionId: string; stepId: string; settled: number; completed: number }>();
  for (const edge of edges) {
    if (!done.has(`${edge.executionId}/${edge.source}`)) continue;
    const key = `${edge.executionId}/${edge.dependent}`;
    const entry = increments.get(key) ?? {
      executionId: edge.executionId,
      stepId: edge.dependent,
      settled: 0,
      completed: 0,
    };
    entry.settled += 1;
    entry.completed += 1;
    increments.set(key, entry);
  }
  const perExecution = new Map<string, number>();
  for (const key of done) {
    const id = key.slice(0, key.indexOf('/'));
    perExecution.set(id, (perExecution.get(id) ?? 0) + 1);
  }
  return {
    increments: [...increments.values()],
    decrements: [...perExecution].map(([id, settled]) => ({ id, settled })),
  };
}

/**
 * The counters a settle moves: its steps' dependents (`deps_settled`, `deps_completed`) and its
 * executions (`steps_unsettled`). They are two updates of two tables, each answering what the
 * settle decides next (which dependents are ready, which executions are finished).
 */
export class SettleCounterRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
    private readonly steps: StepRepository,
    private readonly executions: ExecutionRepository,
  ) {}

  /**
   * The statements of a settle of completed attempts up to the claim: lock the executions (by
   * id, so concurrent settles, cancels and recoveries cannot deadlock), complete the attempts
   * still leased by `owner`, and, given `edges` (each completed step's dependents), count the
   * completions on the dependents and on the executions (`count`). On PostgreSQL one statement:
   * the completion reads the locked executions whole first (an `array(...)` subquery runs before
   * its scan), so every execution is locked before any of its steps, as with separate
   * statements; the counters join the steps that did complete. Elsewhere, or past one chunk,
   * the separate calls. Without `edges` the counters are left to the caller (`counted` false).
   */
  async lockAndComplete(
    executionIds: readonly string[],
    rows: CompletedStepRow[],
    owner: string,
    edges: SettleEdge[] | undefined,
  ): Promise<LockedCompletion> {
    if (
      this.dialect.name !== 'postgres' ||
      rows.length === 0 ||
      rows.length > SETTLE_CHUNK ||
      executionIds.length > SETTLE_CHUNK ||
      (edges?.length ?? 0) > SETTLE_CHUNK
    ) {
      const executions = await this.executions.getManyLocked(executionIds);
      const done = await this.steps.completeMany(rows, owner);
      if (!edges) return { executions, done, counted: false, counters: [], settled: [] };
      return { executions, done, counted: true, ...(await this.countEdges(done, edges)) };
    }
    // The statement's CTEs and the parts of its answer, each part tagged with its kind.
    const ctes = [
      sql`locked as (select * from executions where id in (${sql.join(executionIds)}) order by id for update)`,
      sql`done as (${completedStepsUpdate(rows, owner, 'locked')})`,
    ];
    const answers = [
      sql`select 'execution' as kind, to_jsonb(locked) as row from locked`,
      sql`select 'done', to_jsonb(done) from done`,
    ];
    if (edges) {
      const perExecution = sql`(select execution_id as column1, count(*)::integer as column2 from done group by execution_id)`;
      ctes.push(sql`e as (${settledExecutionsUpdateFrom(perExecution)})`);
      answers.push(sql`select 'settled', to_jsonb(e) from e`);
    }
    if (edges && edges.length > 0) {
      const values = edges.map((edge) => sql`(${edge.executionId}, ${edge.dependent}, ${edge.source})`);
      // Per dependent, how many of its sources completed in `done`.
      const perDependent = sql`(select x.column1, x.column2, count(*)::integer as column3, count(*)::integer as column4
        from (values ${sql.join(values)}) as x
        join done on done.execution_id = x.column1 and done.step_id = x.column3
        group by x.column1, x.column2)`;
      ctes.push(sql`d as (${dependentCountersUpdateFrom(perDependent)})`);
      answers.push(sql`select 'counter', to_jsonb(d) from d`);
    }
    const result = await sql<{ kind: string; row: Record<string, unknown> }>`
      with ${sql.join(ctes)} ${sql.join(answers, sql` union all `)}`.execute(this.db);
    const completion: LockedCompletion = {
      executions: [],
      done: new Set(),
      counted: edges !== undefined,
      counters: [],
      settled: [],
    };
    for (const { kind, row } of result.rows) {
      if (kind === 'execution') completion.executions.push(row as unknown as ExecutionRow);
      else if (kind === 'done') completion.done.add(`${row.execution_id}/${row.step_id}`);
      else if (kind === 'counter')
        completion.counters.push(row as unknown as DependentCounters & { execution_id: string });
      else completion.settled.push(row as unknown as { id: string; steps_unsettled: number; status: string });
    }
    completion.executions.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return completion;
  }

  /**
   * Counts the steps of `done` (`execution_id/step_id`) as settled and completed on their
   * dependents (the `edges` out of them; others are ignored) and on their executions.
   */
  async countEdges(
    done: ReadonlySet<string>,
    edges: readonly SettleEdge[],
  ): Promise<Pick<LockedCompletion, 'counters' | 'settled'>> {
    const { increments, decrements } = countsOf(done, edges);
    const { counters, executions } = await this.count(increments, decrements);
    return { counters, settled: executions };
  }

  /**
   * The steps' `countSettledDependencies` and the executions' `countSettledMany` together: on
   * PostgreSQL in one statement (two updates of different tables), a round trip fewer per settle;
   * elsewhere, or past one chunk, as the two calls.
   */
  async count(
    increments: Array<{ executionId: string; stepId: string; settled: number; completed: number }>,
    decrements: Array<{ id: string; settled: number }>,
  ): Promise<{
    counters: Array<DependentCounters & { execution_id: string }>;
    executions: Array<{ id: string; steps_unsettled: number; status: string }>;
  }> {
    if (
      this.dialect.name !== 'postgres' ||
      increments.length === 0 ||
      decrements.length === 0 ||
      increments.length > SETTLE_CHUNK ||
      decrements.length > SETTLE_CHUNK
    ) {
      return {
        counters: await this.steps.countSettledDependencies(increments),
        executions: await this.executions.countSettledMany(decrements),
      };
    }
    const result = await sql<{
      kind: 'step' | 'execution';
      execution_id: string;
      step_id: string | null;
      deps_total: number | null;
      deps_settled: number | null;
      deps_completed: number | null;
      steps_unsettled: number | null;
      status: string | null;
    }>`
      with d as (${dependentCountersUpdate(increments)}), e as (${settledExecutionsUpdate(decrements)})
      select 'step' as kind, execution_id, step_id, deps_total, deps_settled, deps_completed,
             null::integer as steps_unsettled, null::text as status
        from d
      union all
      select 'execution', id, null, null, null, null, steps_unsettled, status from e`.execute(this.db);
    const counters: Array<DependentCounters & { execution_id: string }> = [];
    const settled: Array<{ id: string; steps_unsettled: number; status: string }> = [];
    for (const row of result.rows) {
      if (row.kind === 'step') {
        counters.push({
          execution_id: row.execution_id,
          step_id: row.step_id as string,
          deps_total: Number(row.deps_total),
          deps_settled: Number(row.deps_settled),
          deps_completed: Number(row.deps_completed),
        });
      } else {
        settled.push({
          id: row.execution_id,
          steps_unsettled: Number(row.steps_unsettled),
          status: row.status as string,
        });
      }
    }
    return { counters, executions: settled };
  }
}
