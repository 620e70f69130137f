import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Items of `for_each` steps (issue 10, SPEC §3.1): one row per array element, with its own
 * attempts and lease like a step. `item` is the element itself (JSON); its input is rendered only
 * when the item runs. Claims look items up by status and due time; views page by index. Never
 * edit: add a migration.
 */
export async function up(db: Kysely<unknown>, { idType, bigintType }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  const bigint = sql.raw(bigintType);
  await db.schema
    .createTable('step_items')
    .addColumn('execution_id', id, (column) => column.notNull())
    .addColumn('step_id', id, (column) => column.notNull())
    .addColumn('item_index', 'integer', (column) => column.notNull())
    .addColumn('workspace_id', id, (column) => column.notNull())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('item', 'text', (column) => column.notNull())
    .addColumn('attempt_type', 'text', (column) => column.notNull())
    .addColumn('attempts', 'integer', (column) => column.notNull())
    .addColumn('attempt_base', 'integer', (column) => column.notNull())
    .addColumn('used_fallback', 'integer', (column) => column.notNull())
    .addColumn('input', 'text')
    .addColumn('output', 'text')
    .addColumn('error', 'text')
    .addColumn('run_at', bigint)
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', bigint)
    .addColumn('queued_at', 'text')
    .addColumn('started_at', 'text')
    .addColumn('completed_at', 'text')
    .addColumn('child_execution_id', id)
    .addPrimaryKeyConstraint('step_items_pk', ['execution_id', 'step_id', 'item_index'])
    .execute();
  await db.schema.createIndex('step_items_claim_idx').on('step_items').columns(['status', 'run_at']).execute();
  await db.schema
    .createIndex('step_items_status_idx')
    .on('step_items')
    .columns(['execution_id', 'step_id', 'status', 'item_index'])
    .execute();
}
