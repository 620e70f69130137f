import type { Kysely } from 'kysely';
import type { Page } from '../../types.js';
import type { Database, SecretRow } from '../database-schema.js';
import { decodeCursor, encodeCursor, type PageRequest } from '../pagination.js';

/** What the API shows of a secret: never its value. */
export interface SecretMetadata {
  name: string;
  /** True when the value is stored encrypted under WEFT_SECRETS_KEY. */
  encrypted: boolean;
  created_at: string;
  updated_at: string;
}

/** A stored value as the vault reads it back: the text or the ciphertext with its nonce and tag. */
export type StoredSecretValue = Pick<SecretRow, 'name' | 'encrypted' | 'value' | 'iv' | 'tag'>;

function toMetadata(row: Pick<SecretRow, 'name' | 'encrypted' | 'created_at' | 'updated_at'>): SecretMetadata {
  return {
    name: row.name,
    encrypted: Number(row.encrypted) === 1,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const METADATA_COLUMNS = ['name', 'encrypted', 'created_at', 'updated_at'] as const;

/**
 * Rows of workspace secrets (migration 0008). It stores what it is given: encryption and
 * decryption are the vault's (src/secrets/secret-vault.ts), so this never sees a key. Lists and
 * metadata never select the value columns.
 */
export class SecretRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Creates or replaces the secret `name` of a workspace; `created` tells which. `created_at` is
   * kept across replacements.
   */
  async put(
    workspaceId: string,
    stored: StoredSecretValue,
    now: string,
  ): Promise<{ secret: SecretMetadata; created: boolean }> {
    const row: SecretRow = { workspace_id: workspaceId, ...stored, created_at: now, updated_at: now };
    const inserted = await this.db
      .insertInto('secrets')
      .values(row)
      .onConflict((conflict) => conflict.columns(['workspace_id', 'name']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return { secret: toMetadata(row), created: true };
    await this.db
      .updateTable('secrets')
      .set({ encrypted: stored.encrypted, value: stored.value, iv: stored.iv, tag: stored.tag, updated_at: now })
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', stored.name)
      .execute();
    const secret = await this.get(workspaceId, stored.name);
    if (!secret) throw new Error(`secret '${stored.name}' of workspace ${workspaceId} was not stored`);
    return { secret, created: false };
  }

  /** Metadata of one secret of a workspace. */
  async get(workspaceId: string, name: string): Promise<SecretMetadata | undefined> {
    const row = await this.db
      .selectFrom('secrets')
      .select(METADATA_COLUMNS)
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? toMetadata(row) : undefined;
  }

  /** Metadata of a workspace's secrets, by name (A–Z, byte order). */
  async list(workspaceId: string, page: PageRequest): Promise<Page<SecretMetadata>> {
    let query = this.db
      .selectFrom('secrets')
      .select(METADATA_COLUMNS)
      .where('workspace_id', '=', workspaceId)
      .orderBy('name', 'asc')
      .limit(page.limit + 1);
    if (page.cursor) query = query.where('name', '>', decodeCursor(page.cursor));
    const rows = await query.execute();
    const items = rows.slice(0, page.limit).map(toMetadata);
    const last = items[items.length - 1];
    return { items, next_cursor: rows.length > page.limit && last ? encodeCursor(last.name) : null };
  }

  /** The stored values of the named secrets of a workspace (absent names are left out). */
  async values(workspaceId: string, names: readonly string[]): Promise<StoredSecretValue[]> {
    if (names.length === 0) return [];
    return this.db
      .selectFrom('secrets')
      .select(['name', 'encrypted', 'value', 'iv', 'tag'])
      .where('workspace_id', '=', workspaceId)
      .where('name', 'in', [...names])
      .execute();
  }

  /** Deletes a secret; false when the workspace has none of that name. */
  async delete(workspaceId: string, name: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('secrets')
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
