import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * `GET /executions?label=key:value` on PostgreSQL through an index (issue 13): a client that
 * waits for its runs by their label (the peer benchmark does, every few milliseconds) read every
 * execution of the status it asked for and parsed its labels. A GIN index over the labels as
 * jsonb (`jsonb_path_ops`: containment only, small) answers `labels::jsonb @> {key: value}`,
 * which the PostgreSQL dialect's label filter now asks. SQLite has no such index: its filter
 * stays a scan of the status's rows, in process. Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, context: MigrationContext): Promise<void> {
  if (context.backend !== 'postgres') return;
  await sql`create index executions_labels_idx on executions using gin ((labels::jsonb) jsonb_path_ops)`.execute(db);
}
