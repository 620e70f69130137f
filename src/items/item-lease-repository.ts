import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/database-schema.js';
import type { StepItemRow } from './item-repository.js';

/**
 * The lease queries of `for_each` items, for recovery: the items whose lease expired, and what
 * an owner holds, so a lost process is judged by everything it ran (steps and items together).
 */
export class ItemLeaseRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** True when a running item of the execution holds an unexpired lease whose owner matches `ownerLike` (SQL LIKE). */
  async heldInExecution(executionId: string, ownerLike: string, now: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('step_items')
      .select('step_id')
      .where('execution_id', '=', executionId)
      .where('status', '=', 'running')
      .where('lease_owner', 'like', ownerLike)
      .where('lease_expires_at', '>=', now)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Running items whose lease expired before `now`, at most `limit`. */
  expired(now: number, limit: number): Promise<StepItemRow[]> {
    return this.db
      .selectFrom('step_items')
      .selectAll()
      .where('status', '=', 'running')
      .where('lease_expires_at', '<', now)
      .limit(limit)
      .execute();
  }

  /** How many running items `owner` holds, and how many of those leases expired before `now`. */
  async heldBy(owner: string, now: number): Promise<{ held: number; expired: number }> {
    const rows = await this.db
      .selectFrom('step_items')
      .select('lease_expires_at')
      .where('status', '=', 'running')
      .where('lease_owner', '=', owner)
      .execute();
    return { held: rows.length, expired: rows.filter((row) => Number(row.lease_expires_at ?? 0) < now).length };
  }

  /** Running items `owner` holds whose lease expired before `now` (every one when `now` is undefined). */
  heldRows(owner: string, now: number | undefined, limit: number): Promise<StepItemRow[]> {
    let query = this.db
      .selectFrom('step_items')
      .selectAll()
      .where('status', '=', 'running')
      .where('lease_owner', '=', owner);
    if (now !== undefined) query = query.where('lease_expires_at', '<', now);
    return query.limit(limit).execute();
  }

  /** The distinct owners of running items whose names start with `prefix`, except `self`. */
  async ownersLike(prefix: string, self: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('step_items')
      .select('lease_owner')
      .distinct()
      .where('status', '=', 'running')
      .where(sql<boolean>`substr(lease_owner, 1, ${prefix.length}) = ${prefix}`)
      .where('lease_owner', '!=', self)
      .execute();
    return rows.map((row) => row.lease_owner).filter((owner): owner is string => owner !== null);
  }
}
