import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Artifacts (SPEC §3.1): binary files of an execution, one row per name. The bytes live in the
 * artifact storage (a folder) under `storage_key`, a key unique to each upload, so a replaced
 * artifact's old file can still be read by a download that opened it and is deleted after the new
 * row commits. `size` is 64-bit. Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, { idType, bigintType }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  await db.schema
    .createTable('artifacts')
    .addColumn('execution_id', id, (column) => column.notNull())
    .addColumn('name', id, (column) => column.notNull())
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('step_id', 'text')
    .addColumn('size', sql.raw(bigintType), (column) => column.notNull())
    .addColumn('content_type', 'text', (column) => column.notNull())
    .addColumn('sha256', 'text', (column) => column.notNull())
    .addColumn('storage_key', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('artifacts_pk', ['execution_id', 'name'])
    .execute();
}
