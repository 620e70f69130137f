import type { Kysely } from 'kysely';
import type { Database, EventRow } from '../database-schema.js';
import { decodeCursor, type PageRequest, toPage } from '../pagination.js';

/** An event posted to `POST /events`, as the API shows it. */
export interface PostedEvent {
  id: string;
  type: string;
  data: unknown;
  idempotency_key: string | null;
  executions: string[];
  created_at: string;
}

function toPosted(row: EventRow): PostedEvent {
  return {
    id: row.id,
    type: row.type,
    data: JSON.parse(row.data),
    idempotency_key: row.idempotency_key,
    executions: JSON.parse(row.executions) as string[],
    created_at: row.created_at,
  };
}

/** Posted events (the inbound side of triggers). */
export class EventRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Inserts an event unless its idempotency key is taken; returns whether it was inserted. A key
   * older than `keyExpiredBefore` (ISO) is released first: idempotency lasts 24 hours.
   */
  async insertUnlessRepeated(row: EventRow, keyExpiredBefore: string): Promise<boolean> {
    if (row.idempotency_key !== null) {
      await this.db
        .updateTable('events')
        .set({ idempotency_key: null })
        .where('workspace_id', '=', row.workspace_id)
        .where('idempotency_key', '=', row.idempotency_key)
        .where('created_at', '<', keyExpiredBefore)
        .execute();
    }
    const result = await this.db
      .insertInto('events')
      .values(row)
      .onConflict((conflict) => conflict.columns(['workspace_id', 'idempotency_key']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Records the executions an event started. */
  async setExecutions(id: string, executions: readonly string[]): Promise<void> {
    await this.db
      .updateTable('events')
      .set({ executions: JSON.stringify(executions) })
      .where('id', '=', id)
      .execute();
  }

  /** The event of a workspace with this idempotency key. */
  async byIdempotencyKey(workspaceId: string, key: string): Promise<PostedEvent | undefined> {
    const row = await this.db
      .selectFrom('events')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return row ? toPosted(row) : undefined;
  }

  /** One event of a workspace. */
  async get(workspaceId: string, id: string): Promise<PostedEvent | undefined> {
    const row = await this.db
      .selectFrom('events')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toPosted(row) : undefined;
  }

  /** Events of a workspace, newest first; `type` filters. */
  async list(
    workspaceId: string,
    filters: { type?: string | undefined },
    page: PageRequest,
  ): Promise<{ items: PostedEvent[]; next_cursor: string | null }> {
    let query = this.db
      .selectFrom('events')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('id', 'desc')
      .limit(page.limit + 1);
    if (filters.type !== undefined) query = query.where('type', '=', filters.type);
    if (page.cursor) query = query.where('id', '<', decodeCursor(page.cursor));
    return toPage(await query.execute(), page.limit, toPosted);
  }
}
