import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Concurrency keys (SPEC §3.1): an execution of a workflow with a `concurrency` block records the
 * group it counts in (`concurrency_group`: the workflow, or the workspace and name of an ad-hoc
 * definition), its rendered key (`concurrency_key`, '' when the block has no key) and, while it
 * waits for a slot, when it was queued (`queued_at`, the FIFO order). Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.alterTable('executions').addColumn('concurrency_group', 'text').execute();
  await db.schema.alterTable('executions').addColumn('concurrency_key', 'text').execute();
  await db.schema.alterTable('executions').addColumn('queued_at', 'text').execute();
  // Slot holders of a key, counted at every admission.
  await db.schema
    .createIndex('executions_concurrency_idx')
    .on('executions')
    .columns(['concurrency_group', 'concurrency_key', 'status'])
    .where(sql.ref('concurrency_group'), 'is not', null)
    .execute();
  // The oldest queued execution of a key, taken when a slot frees.
  await db.schema
    .createIndex('executions_queued_idx')
    .on('executions')
    .columns(['concurrency_group', 'concurrency_key', 'queued_at'])
    .where(sql.ref('status'), '=', 'queued')
    .execute();
}
