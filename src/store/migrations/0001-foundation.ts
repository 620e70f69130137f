import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/** Workspaces, API keys, workflows and their versions. Never edit: add a new migration instead. */
export async function up(db: Kysely<unknown>, { idType }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  await db.schema
    .createTable('workspaces')
    .addColumn('id', id, (column) => column.primaryKey())
    .addColumn('slug', 'text', (column) => column.notNull().unique())
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', id, (column) => column.primaryKey())
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('role', 'text', (column) => column.notNull())
    .addColumn('prefix', 'text', (column) => column.notNull())
    .addColumn('key_hash', 'text', (column) => column.notNull().unique())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('last_used_at', 'text')
    .execute();
  await db.schema.createIndex('api_keys_workspace_idx').on('api_keys').columns(['workspace_id', 'id']).execute();

  await db.schema
    .createTable('workflows')
    .addColumn('id', id, (column) => column.primaryKey())
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('description', 'text')
    .addColumn('enabled', 'integer', (column) => column.notNull())
    .addColumn('labels', 'text', (column) => column.notNull())
    .addColumn('webhook_url', 'text')
    .addColumn('latest_version', 'integer', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .addColumn('deleted_at', 'text')
    .execute();
  await db.schema.createIndex('workflows_workspace_idx').on('workflows').columns(['workspace_id', 'id']).execute();

  await db.schema
    .createTable('workflow_versions')
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('workflow_id', id, (column) => column.notNull().references('workflows.id'))
    .addColumn('version', 'integer', (column) => column.notNull())
    .addColumn('definition', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('workflow_versions_pk', ['workflow_id', 'version'])
    .execute();
}
