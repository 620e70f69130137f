import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Execution lists that stay fast at 100,000 executions of a workspace (issue 12): every filter the
 * list offers on an indexed column gets an index ending in `id`, the list's order, so a page is a
 * short walk of one index from the cursor instead of a sort of every matching row.
 * - `status=`: (workspace_id, status, id).
 * - `workflow_id=`, and each workflow's newest execution on the workflow list: (workspace_id,
 *   workflow_id, id).
 * - both: (workspace_id, workflow_id, status, id), which replaces (workspace_id, workflow_id,
 *   status) of 0002: that one is its prefix, so every query it served this one serves.
 * `created_after`/`created_before` need none: ids grow with creation time (src/ids.ts), so the
 * list bounds the id too (see ExecutionRepository.list). Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.dropIndex('executions_workflow_idx').execute();
  await db.schema
    .createIndex('executions_workflow_status_idx')
    .on('executions')
    .columns(['workspace_id', 'workflow_id', 'status', 'id'])
    .execute();
  await db.schema
    .createIndex('executions_workflow_id_idx')
    .on('executions')
    .columns(['workspace_id', 'workflow_id', 'id'])
    .execute();
  await db.schema
    .createIndex('executions_status_idx')
    .on('executions')
    .columns(['workspace_id', 'status', 'id'])
    .execute();
}
