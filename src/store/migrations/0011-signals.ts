import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Signals (SPEC §3.1 `wait_for_signal`): one durable row per signal posted to an execution,
 * consumed at most once by the step that waited for its name (`consumed_by_step`, null while
 * unconsumed). `idempotency_key` is unique per execution. A `wait_for_signal` step that waits
 * names its signal in `execution_steps.waiting_signal`, so a signal finds the oldest waiter.
 * Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, { idType }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  await db.schema
    .createTable('signals')
    .addColumn('id', id, (column) => column.primaryKey())
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('execution_id', id, (column) => column.notNull())
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('data', 'text', (column) => column.notNull())
    .addColumn('idempotency_key', 'text')
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('consumed_by_step', 'text')
    .addColumn('consumed_at', 'text')
    .execute();
  // The oldest unconsumed signal of a name, and the unconsumed count, per execution.
  await db.schema
    .createIndex('signals_execution_name_idx')
    .on('signals')
    .columns(['execution_id', 'name', 'consumed_by_step', 'id'])
    .execute();
  await db.schema
    .createIndex('signals_idempotency_idx')
    .on('signals')
    .columns(['execution_id', 'idempotency_key'])
    .unique()
    .execute();
  await db.schema.alterTable('execution_steps').addColumn('waiting_signal', 'text').execute();
}
