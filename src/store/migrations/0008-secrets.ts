import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Workspace secrets (issue 9): one row per workspace and name. `value` is the AES-256-GCM
 * ciphertext (base64) with its `iv` and `tag` when `encrypted` is 1 (WEFT_SECRETS_KEY was set when
 * it was written), else the value itself; plain rows stay readable after a key is set, encrypted
 * ones need the key. Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, { idType }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  await db.schema
    .createTable('secrets')
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('name', id, (column) => column.notNull())
    .addColumn('encrypted', 'integer', (column) => column.notNull())
    .addColumn('value', 'text', (column) => column.notNull())
    .addColumn('iv', 'text')
    .addColumn('tag', 'text')
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('secrets_pk', ['workspace_id', 'name'])
    .execute();
}
