import type { Kysely } from 'kysely';
import { earliestDueItem } from '../../items/item-repository.js';
import type { Database } from '../database-schema.js';
import { earliestDueStep } from './step-repository.js';

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
          earliestDueStep(this.db, claims).as('steps_due_at'),
          earliestDueItem(this.db, claims).as('items_due_at'),
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
