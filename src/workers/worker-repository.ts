import { type Kysely, sql } from 'kysely';
import { WeftError } from '../errors.js';
import type { Database } from '../store/database-schema.js';
import type { Page } from '../types.js';

/**
 * Rows of `workers` (migration 0015): the workers a workspace has seen polling, and the queue
 * they serve (how many steps and items of each declared type wait for a worker or are held by
 * one). A worker is known only by the `worker_id` its polls carry; nothing registers it.
 */

/** A worker as stored. */
export interface WorkerRow {
  workspace_id: string;
  worker_id: string;
  /** JSON array: the task types of its latest recorded poll. */
  types: string;
  /** The API key of that poll. */
  key_id: string | null;
  first_seen_at: string;
  last_poll_at: string;
}

/** One poll to record (see worker-sightings.ts). */
export interface WorkerSighting {
  workspaceId: string;
  workerId: string;
  types: readonly string[];
  keyId: string | null;
  /** When the poll arrived (ISO). */
  at: string;
}

/** A worker as a list shows it, with the name of the key that polled (null once that key is deleted). */
export interface ListedWorker extends WorkerRow {
  key_name: string | null;
}

/** How many steps and items of a task type wait for a worker (`queued`) or are held by one (`running`). */
export interface QueueDepth {
  queued: number;
  running: number;
}

/** The list's order: newest poll first, then worker id; a cursor is the last row's pair. */
function encodeWorkerCursor(row: Pick<WorkerRow, 'last_poll_at' | 'worker_id'>): string {
  return Buffer.from(JSON.stringify({ at: row.last_poll_at, worker: row.worker_id }), 'utf8').toString('base64url');
}

function decodeWorkerCursor(cursor: string): { at: string; worker: string } {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { at?: unknown; worker?: unknown };
    if (typeof parsed.at === 'string' && typeof parsed.worker === 'string' && parsed.at.length <= 40) {
      return { at: parsed.at, worker: parsed.worker };
    }
  } catch {
    // Falls through to the 400 below: any undecodable cursor is the client's mistake.
  }
  throw new WeftError('VALIDATION_FAILED', 'the cursor is not one this API returned', {
    errors: [{ path: 'query/cursor', message: 'invalid cursor' }],
  });
}

/** The `workers` rows of every workspace, and the queue depth of the task types workers serve. */
export class WorkerRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Records polls: a new worker gets a row, a known one its latest types, key and poll time. Two
   * processes may record out of order; `last_poll_at` only moves forward.
   */
  async record(sightings: readonly WorkerSighting[]): Promise<void> {
    if (sightings.length === 0) return;
    await this.db
      .insertInto('workers')
      .values(
        sightings.map((sighting) => ({
          workspace_id: sighting.workspaceId,
          worker_id: sighting.workerId,
          types: JSON.stringify(sighting.types),
          key_id: sighting.keyId,
          first_seen_at: sighting.at,
          last_poll_at: sighting.at,
        })),
      )
      .onConflict((conflict) =>
        conflict.columns(['workspace_id', 'worker_id']).doUpdateSet({
          types: sql`case when excluded.last_poll_at >= workers.last_poll_at then excluded.types else workers.types end`,
          key_id: sql`case when excluded.last_poll_at >= workers.last_poll_at then excluded.key_id else workers.key_id end`,
          last_poll_at: sql`case when excluded.last_poll_at >= workers.last_poll_at then excluded.last_poll_at else workers.last_poll_at end`,
        }),
      )
      .execute();
  }

  /**
   * A page of a workspace's workers polled since `seenSince`, newest poll first; `activeSince`
   * keeps only those polled since then (`active: true`) or only the others (`active: false`).
   */
  async list(
    workspaceId: string,
    filter: { seenSince: string; active?: { since: string; value: boolean } | undefined },
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Page<ListedWorker>> {
    let query = this.db
      .selectFrom('workers')
      .leftJoin('api_keys', 'api_keys.id', 'workers.key_id')
      .selectAll('workers')
      .select('api_keys.name as key_name')
      .where('workers.workspace_id', '=', workspaceId)
      .where('workers.last_poll_at', '>=', filter.seenSince)
      .orderBy('workers.last_poll_at', 'desc')
      .orderBy('workers.worker_id', 'desc')
      .limit(page.limit + 1);
    if (filter.active) {
      query = query.where('workers.last_poll_at', filter.active.value ? '>=' : '<', filter.active.since);
    }
    if (page.cursor) {
      const after = decodeWorkerCursor(page.cursor);
      query = query.where((eb) =>
        eb.or([
          eb('workers.last_poll_at', '<', after.at),
          eb.and([eb('workers.last_poll_at', '=', after.at), eb('workers.worker_id', '<', after.worker)]),
        ]),
      );
    }
    const rows = await query.execute();
    const items = rows.slice(0, page.limit);
    const last = items[items.length - 1];
    return { items, next_cursor: rows.length > page.limit && last ? encodeWorkerCursor(last) : null };
  }

  /** Deletes the rows of workers (of every workspace) that have not polled since `before`. */
  async prune(before: string): Promise<number> {
    const result = await this.db.deleteFrom('workers').where('last_poll_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * Queue depth of each of `types` in a workspace, in one statement: steps and `for_each` items
   * of that type (their current attempt's type) that are `queued` in a running execution (due now
   * or after a retry delay: a worker's poll takes them), and those `running` (a worker holds the
   * lease). It reads only work under way: queued and running steps through the partial indexes
   * the claims use (`execution_steps_due_idx`, `execution_steps_lease_idx`; SQLite may start from
   * the running executions instead), items through `step_items_claim_idx`. Its cost follows the
   * backlog (about 10 ms per 5,000 queued steps), not the history. Types with nothing are left out.
   */
  async queueDepths(workspaceId: string, types: readonly string[]): Promise<Map<string, QueueDepth>> {
    const depths = new Map<string, QueueDepth>();
    if (types.length === 0) return depths;
    const typeList = sql.join(types.map((type) => sql`${type}`));
    // The status conditions are written as the partial indexes' predicates so that SQLite uses them.
    const result = await sql<{ type: string; state: string; count: number | string }>`
      select es.attempt_type as type, 'queued' as state, count(*) as count
        from execution_steps es join executions e on e.id = es.execution_id
        where es.status in ('queued', 'waiting') and es.status = 'queued' and e.status = 'running'
          and es.workspace_id = ${workspaceId} and es.attempt_type in (${typeList})
        group by es.attempt_type
      union all
      select es.attempt_type, 'running', count(*)
        from execution_steps es
        where es.status = 'running' and es.workspace_id = ${workspaceId} and es.attempt_type in (${typeList})
        group by es.attempt_type
      union all
      select si.attempt_type, 'queued', count(*)
        from step_items si join executions e on e.id = si.execution_id
        where si.status = 'queued' and e.status = 'running'
          and si.workspace_id = ${workspaceId} and si.attempt_type in (${typeList})
        group by si.attempt_type
      union all
      select si.attempt_type, 'running', count(*)
        from step_items si
        where si.status = 'running' and si.workspace_id = ${workspaceId} and si.attempt_type in (${typeList})
        group by si.attempt_type`.execute(this.db);
    for (const row of result.rows) {
      const depth = depths.get(row.type) ?? { queued: 0, running: 0 };
      if (row.state === 'queued') depth.queued += Number(row.count);
      else depth.running += Number(row.count);
      depths.set(row.type, depth);
    }
    return depths;
  }
}
