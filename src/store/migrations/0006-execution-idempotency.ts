import type { Kysely } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * `Idempotency-Key` on starting executions (SPEC §3): the key of the start that created an
 * execution, unique per workspace (a key older than 24 hours is released before reuse). Never
 * edit: add a migration.
 */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.alterTable('executions').addColumn('idempotency_key', 'text').execute();
  await db.schema
    .createIndex('executions_idempotency_idx')
    .on('executions')
    .columns(['workspace_id', 'idempotency_key'])
    .unique()
    .execute();
}
