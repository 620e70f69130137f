import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Workers seen recently (src/workers/): one row per worker id of a workspace, written by its polls
 * (at most every few seconds per process, see worker-sightings.ts): the task types of its latest
 * poll (JSON array), the key that polled, when it was first seen and when it last polled. Rows of
 * workers silent for 7 days are pruned. Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, { idType }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  await db.schema
    .createTable('workers')
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('worker_id', id, (column) => column.notNull())
    .addColumn('types', 'text', (column) => column.notNull())
    .addColumn('key_id', id)
    .addColumn('first_seen_at', 'text', (column) => column.notNull())
    .addColumn('last_poll_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('workers_pk', ['workspace_id', 'worker_id'])
    .execute();
  // The list (newest poll first, cursor by poll time and id) and its `active` filter.
  await db.schema
    .createIndex('workers_last_poll_idx')
    .on('workers')
    .columns(['workspace_id', 'last_poll_at', 'worker_id'])
    .execute();
}
