import { type Kysely, sql } from 'kysely';
import type { Database } from '../database-schema.js';
import type { StoreDialect } from '../store-dialect.js';
import { type ExecutionRepository, settledExecutionsUpdate } from './execution-repository.js';
import {
  type DependentCounters,
  dependentCountersUpdate,
  SETTLE_CHUNK,
  type StepRepository,
} from './step-repository.js';

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
