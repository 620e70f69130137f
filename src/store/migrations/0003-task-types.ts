import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * External workers: the workspace's declared task types, and the type of a step's current
 * attempt (`attempt_type`: the step's own type, or its fallback's once the fallback runs), which
 * decides who claims the step — this process's engine or a polling worker. Never edit: add a
 * new migration.
 */
export async function up(db: Kysely<unknown>, { idType }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  await db.schema
    .createTable('task_types')
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('type', 'text', (column) => column.notNull())
    .addColumn('description', 'text', (column) => column.notNull())
    .addColumn('input_schema', 'text')
    .addColumn('output_schema', 'text')
    .addColumn('lease_seconds', 'integer', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('task_types_pk', ['workspace_id', 'type'])
    .execute();

  await db.schema.alterTable('execution_steps').addColumn('attempt_type', 'text').execute();
  await sql`update execution_steps set attempt_type = type`.execute(db);
}
