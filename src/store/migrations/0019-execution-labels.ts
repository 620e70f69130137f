import { type Kysely, sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * `GET /executions?label=key:value` on SQLite through an index (issue 13), as migration 0017 gave
 * PostgreSQL one. SQLite's filter read every execution of the asked status and parsed its labels
 * (`json_each`): 1.5 ms a request at 300 executions, growing with history, for a client that
 * waits for its runs by their label every few milliseconds (the peer benchmark does). Here the
 * labels of each execution are kept as rows of `execution_labels` (workspace, key, value,
 * execution), written by a trigger when the execution is inserted (labels never change after)
 * and dropped with it; the rows of executions already stored are written now. PostgreSQL keeps
 * its GIN index. Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, context: MigrationContext): Promise<void> {
  if (context.backend !== 'sqlite') return;
  await sql`
    create table execution_labels (
      workspace_id text not null,
      key text not null,
      value text not null,
      execution_id text not null,
      primary key (workspace_id, key, value, execution_id)
    ) without rowid`.execute(db);
  await sql`create index execution_labels_execution_idx on execution_labels (execution_id)`.execute(db);
  await sql`
    create trigger executions_labels_insert after insert on executions when new.labels <> '{}'
    begin
      insert or ignore into execution_labels (workspace_id, key, value, execution_id)
        select new.workspace_id, label.key, label.value, new.id
        from json_each(new.labels) as label where label.type = 'text';
    end`.execute(db);
  await sql`
    create trigger executions_labels_delete after delete on executions
    begin
      delete from execution_labels where execution_id = old.id;
    end`.execute(db);
  await sql`
    insert or ignore into execution_labels (workspace_id, key, value, execution_id)
      select executions.workspace_id, label.key, label.value, executions.id
      from executions, json_each(executions.labels) as label
      where executions.labels <> '{}' and label.type = 'text'`.execute(db);
}
