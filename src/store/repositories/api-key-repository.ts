import type { Kysely } from 'kysely';
import { newId, nowIso } from '../../ids.js';
import type { ApiKey, Page, Role, Workspace } from '../../types.js';
import type { ApiKeyRow, Database } from '../database-schema.js';
import { decodeCursor, type PageRequest, toPage } from '../pagination.js';

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    workspace_id: row.workspace_id,
    name: row.name,
    role: row.role as Role,
    prefix: row.prefix,
    created_at: row.created_at,
    last_used_at: row.last_used_at,
  };
}

/** API keys; only their hashes are stored. */
export class ApiKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Stores a key by its hash. */
  async create(input: {
    workspaceId: string;
    name: string;
    role: Role;
    prefix: string;
    keyHash: string;
  }): Promise<ApiKey> {
    const row: ApiKeyRow = {
      id: newId('key'),
      workspace_id: input.workspaceId,
      name: input.name,
      role: input.role,
      prefix: input.prefix,
      key_hash: input.keyHash,
      created_at: nowIso(),
      last_used_at: null,
    };
    await this.db.insertInto('api_keys').values(row).execute();
    return toApiKey(row);
  }

  /** Keys of a workspace, newest first. */
  async list(workspaceId: string, page: PageRequest): Promise<Page<ApiKey>> {
    let query = this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('id', 'desc')
      .limit(page.limit + 1);
    if (page.cursor) query = query.where('id', '<', decodeCursor(page.cursor));
    return toPage(await query.execute(), page.limit, toApiKey);
  }

  /** The key with this hash and its workspace, if any. */
  async findByHash(keyHash: string): Promise<{ key: ApiKey; workspace: Workspace } | undefined> {
    const row = await this.db
      .selectFrom('api_keys')
      .innerJoin('workspaces', 'workspaces.id', 'api_keys.workspace_id')
      .selectAll('api_keys')
      .select(['workspaces.slug as workspace_slug', 'workspaces.name as workspace_name'])
      .select('workspaces.created_at as workspace_created_at')
      .where('api_keys.key_hash', '=', keyHash)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      key: toApiKey(row),
      workspace: {
        id: row.workspace_id,
        slug: row.workspace_slug,
        name: row.workspace_name,
        created_at: row.workspace_created_at,
      },
    };
  }

  /** A key of a workspace, if there is one. */
  async get(workspaceId: string, id: string): Promise<ApiKey | undefined> {
    const row = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toApiKey(row) : undefined;
  }

  /** Gives a key another role (the bootstrap's `WEFT_ADMIN_KEY` becomes an owner again). */
  async setRole(id: string, role: Role): Promise<void> {
    await this.db.updateTable('api_keys').set({ role }).where('id', '=', id).execute();
  }

  /** Deletes a key of a workspace; false when there is no such key there. */
  async delete(workspaceId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('api_keys')
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Records that a key was used now. */
  async touch(id: string, at: string): Promise<void> {
    await this.db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}
