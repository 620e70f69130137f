import { type Kysely, sql } from 'kysely';
import type { Database, ExecutionStepRow } from '../database-schema.js';

/**
 * Leases on running steps, as the engine's sweeps see them: renewing a process's leases, finding
 * expired ones and telling what else their owner held. The writes that take a lease back are
 * guarded updates of `StepRepository`, done in the recovery's transactions.
 */
export class LeaseRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** True when a running step of the execution holds an unexpired lease whose owner matches `ownerLike` (SQL LIKE). */
  async heldInExecution(executionId: string, ownerLike: string, now: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('execution_steps')
      .select('step_id')
      .where('execution_id', '=', executionId)
      .where('status', '=', 'running')
      .where('lease_owner', 'like', ownerLike)
      .where('lease_expires_at', '>=', now)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Extends the leases `owner` holds on running steps. */
  async renew(owner: string, leaseUntil: number): Promise<number> {
    const result = await this.db
      .updateTable('execution_steps')
      .set({ lease_expires_at: leaseUntil })
      .where('lease_owner', '=', owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Running steps whose lease expired before `now`. */
  expired(now: number, limit: number): Promise<ExecutionStepRow[]> {
    return this.db
      .selectFrom('execution_steps')
      .selectAll()
      .where('status', '=', 'running')
      .where('lease_expires_at', '<', now)
      .limit(limit)
      .execute();
  }

  /** Running steps `owner` holds whose lease expired before `now`. */
  expiredOf(owner: string, now: number, limit: number): Promise<ExecutionStepRow[]> {
    return this.db
      .selectFrom('execution_steps')
      .selectAll()
      .where('status', '=', 'running')
      .where('lease_owner', '=', owner)
      .where('lease_expires_at', '<', now)
      .limit(limit)
      .execute();
  }

  /** How many running steps `owner` holds, and how many of those leases expired before `now`. */
  async heldBy(owner: string, now: number): Promise<{ held: number; expired: number }> {
    const rows = await this.db
      .selectFrom('execution_steps')
      .select('lease_expires_at')
      .where('status', '=', 'running')
      .where('lease_owner', '=', owner)
      .execute();
    return { held: rows.length, expired: rows.filter((row) => Number(row.lease_expires_at ?? 0) < now).length };
  }

  /**
   * The distinct owners of running steps whose names start with `prefix`, except `self`: at a
   * start, the earlier incarnations whose leases are known dead.
   */
  async ownersLike(prefix: string, self: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('execution_steps')
      .select('lease_owner')
      .distinct()
      .where('status', '=', 'running')
      // substr rather than LIKE: no wildcards to escape, and both databases spell it alike.
      .where(sql<boolean>`substr(lease_owner, 1, ${prefix.length}) = ${prefix}`)
      .where('lease_owner', '!=', self)
      .execute();
    return rows.map((row) => row.lease_owner).filter((owner): owner is string => owner !== null);
  }

  /** Running steps `owner` holds, whatever their lease's expiry. */
  heldRows(owner: string, limit: number): Promise<ExecutionStepRow[]> {
    return this.db
      .selectFrom('execution_steps')
      .selectAll()
      .where('status', '=', 'running')
      .where('lease_owner', '=', owner)
      .limit(limit)
      .execute();
  }
}
