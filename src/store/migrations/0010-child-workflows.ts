import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Child workflows (SPEC §3.1 `workflow`): a child execution names its parent execution and step
 * and its depth (0 for a top-level execution, for WEFT_MAX_WORKFLOW_DEPTH); a `workflow` step
 * names the child of its current attempt. Children are listed by parent. Never edit: add a
 * migration.
 */
export async function up(db: Kysely<unknown>, context: MigrationContext): Promise<void> {
  await db.schema.alterTable('executions').addColumn('parent_execution_id', sql.raw(context.idType)).execute();
  await db.schema.alterTable('executions').addColumn('parent_step_id', 'text').execute();
  await db.schema
    .alterTable('executions')
    .addColumn('workflow_depth', 'integer', (column) => column.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createIndex('executions_parent_idx')
    .on('executions')
    .columns(['parent_execution_id', 'parent_step_id'])
    .execute();
  await db.schema.alterTable('execution_steps').addColumn('child_execution_id', sql.raw(context.idType)).execute();
}
