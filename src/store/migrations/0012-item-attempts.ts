import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Items of `for_each` steps as full attempts (SPEC §3.1): `step_item_attempts` records each item
 * attempt for the timeline (one row per item and attempt, like `step_attempts` for steps);
 * `step_items.lost_attempts` counts an item's lost leases towards the poison-pill bound;
 * `step_items.waiting_signal` names the signal a `wait_for_signal` item waits for, and
 * `signals.consumed_by_index` the item that consumed a signal; `executions.parent_item_index`
 * names the item whose attempt a child execution is. Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, { idType }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  await db.schema
    .createTable('step_item_attempts')
    .addColumn('execution_id', id, (column) => column.notNull())
    .addColumn('step_id', 'text', (column) => column.notNull())
    .addColumn('item_index', 'integer', (column) => column.notNull())
    .addColumn('attempt', 'integer', (column) => column.notNull())
    .addColumn('workspace_id', id, (column) => column.notNull())
    .addColumn('type', 'text', (column) => column.notNull())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('used_fallback', 'integer', (column) => column.notNull())
    .addColumn('error', 'text')
    .addColumn('worker', 'text')
    .addColumn('queued_at', 'text')
    .addColumn('started_at', 'text')
    .addColumn('ended_at', 'text')
    .addPrimaryKeyConstraint('step_item_attempts_pk', ['execution_id', 'step_id', 'item_index', 'attempt'])
    .execute();
  await db.schema
    .alterTable('step_items')
    .addColumn('lost_attempts', 'integer', (column) => column.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('step_items').addColumn('waiting_signal', 'text').execute();
  await db.schema.alterTable('signals').addColumn('consumed_by_index', 'integer').execute();
  await db.schema.alterTable('executions').addColumn('parent_item_index', 'integer').execute();
  // Expired item leases, found by the sweep without a scan of every item.
  await db.schema
    .createIndex('step_items_lease_idx')
    .on('step_items')
    .columns(['lease_expires_at'])
    .where(sql.ref('status'), '=', 'running')
    .execute();
}
