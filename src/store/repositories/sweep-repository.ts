import type { Kysely } from 'kysely';
import type { Database } from '../database-schema.js';

/** What the engine's periodic sweep has to do, as one read found it. */
export interface SweepWork {
  /** A running step or item holds a lease that expired before `now`. */
  expiredLeases: boolean;
  /** A running or paused execution passed its workflow timeout. */
  timedOut: boolean;
  /** An execution waits in the queue of a concurrency key. */
  queued: boolean;
  /** The earliest `run_at` of a queued or waiting step the engine claims (as `StepRepository.nextDueAt`). */
  stepsDueAt: number | undefined;
  /** The same for items of `for_each` steps (as `ItemRepository.nextDueAt`). */
  itemsDueAt: number | undefined;
}

/**
 * The engine's sweep runs in every process every WEFT_POLL_INTERVAL_MS, and on an idle system it
 * finds nothing: this asks all its questions in one statement, so an idle poll is one round trip
 * (it was nine statements on PostgreSQL, two of them a claim transaction). The sweep then runs
 * only the repairs whose answer is yes (engine/sweep.ts); each repeats its own query, so what this
 * read answers is a hint, never acted on by itself.
 */
export class SweepRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** What is due at `now` for an engine claiming steps of `types`. */
  async probe(now: number, types: readonly string[]): Promise<SweepWork> {
    const row = await this.db
      .selectNoFrom((eb) => {
        // `in ()` is not SQL, and no task type is named '': an engine that claims none has nothing due.
        const claims = types.length > 0 ? types : [''];
        return [
          eb
            .or([
              eb.exists(
                eb
                  .selectFrom('execution_steps')
                  .select('step_id')
                  .where('status', '=', 'running')
                  .where('lease_expires_at', '<', now),
              ),
              eb.exists(
                eb
                  .selectFrom('step_items')
                  .select('step_id')
                  .where('status', '=', 'running')
                  .where('lease_expires_at', '<', now),
              ),
            ])
            .as('expired_leases'),
          eb
            .exists(
              eb
                .selectFrom('executions')
                .select('id')
                .where('status', 'in', ['running', 'paused'])
                .where('timeout_at', '<=', now),
            )
            .as('timed_out'),
          eb
            .exists(
              eb
                .selectFrom('executions')
                .select('id')
                .where('status', '=', 'queued')
                .where('concurrency_group', 'is not', null),
            )
            .as('queued'),
          eb
            .selectFrom('execution_steps')
            .innerJoin('executions', 'executions.id', 'execution_steps.execution_id')
            .select((inner) => inner.fn.min('execution_steps.run_at').as('next'))
            .where('execution_steps.status', 'in', ['queued', 'waiting'])
            .where('executions.status', '=', 'running')
            .where('execution_steps.attempt_type', 'in', claims)
            .as('steps_due_at'),
          eb
            .selectFrom('step_items')
            .innerJoin('executions', 'executions.id', 'step_items.execution_id')
            .select((inner) => inner.fn.min('step_items.run_at').as('next'))
            .where('step_items.status', 'in', ['queued', 'waiting'])
            .where('executions.status', '=', 'running')
            .where('step_items.attempt_type', 'in', claims)
            .as('items_due_at'),
        ];
      })
      .executeTakeFirstOrThrow();
    return {
      // Booleans on PostgreSQL, 0 or 1 on SQLite.
      expiredLeases: Boolean(Number(row.expired_leases)),
      timedOut: Boolean(Number(row.timed_out)),
      queued: Boolean(Number(row.queued)),
      stepsDueAt: optionalNumber(row.steps_due_at),
      itemsDueAt: optionalNumber(row.items_due_at),
    };
  }
}

function optionalNumber(value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}
