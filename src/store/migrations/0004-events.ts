import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Events in and out. `events`: what `POST /events` received and which executions it started
 * (an `Idempotency-Key` makes a repeat return the first answer). `workflow_triggers`: the event
 * triggers of enabled workflows by type. `schedules`: one row per cron
 * trigger of an enabled workflow with its next fire time, claimed by one process per fire. On
 * PostgreSQL a trigger announces every appended execution event on `weft_events` at commit, for
 * live streams in any process (SQLite announces from the store). Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, { idType, bigintType, backend }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  const bigint = sql.raw(bigintType);
  await db.schema
    .createTable('events')
    .addColumn('id', id, (column) => column.primaryKey())
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('type', 'text', (column) => column.notNull())
    .addColumn('data', 'text', (column) => column.notNull())
    .addColumn('idempotency_key', 'text')
    .addColumn('executions', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('events_workspace_idx').on('events').columns(['workspace_id', 'id']).execute();
  await db.schema
    .createIndex('events_idempotency_idx')
    .on('events')
    .columns(['workspace_id', 'idempotency_key'])
    .unique()
    .execute();

  // The event triggers of enabled workflows by event type, so a posted event finds its workflows
  // with one indexed query; kept in step with each workflow's latest definition.
  await db.schema
    .createTable('workflow_triggers')
    .addColumn('workflow_id', id, (column) => column.notNull())
    .addColumn('trigger_index', 'integer', (column) => column.notNull())
    .addColumn('workspace_id', id, (column) => column.notNull())
    .addColumn('event_type', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('workflow_triggers_pk', ['workflow_id', 'trigger_index'])
    .execute();
  await db.schema
    .createIndex('workflow_triggers_event_idx')
    .on('workflow_triggers')
    .columns(['workspace_id', 'event_type'])
    .execute();

  await db.schema
    .createTable('schedules')
    .addColumn('workflow_id', id, (column) => column.notNull())
    .addColumn('trigger_index', 'integer', (column) => column.notNull())
    .addColumn('workspace_id', id, (column) => column.notNull())
    .addColumn('cron', 'text', (column) => column.notNull())
    .addColumn('timezone', 'text', (column) => column.notNull())
    .addColumn('next_fire_at', bigint, (column) => column.notNull())
    .addColumn('last_fired_at', 'text')
    .addPrimaryKeyConstraint('schedules_pk', ['workflow_id', 'trigger_index'])
    .execute();
  await db.schema.createIndex('schedules_due_idx').on('schedules').columns(['next_fire_at']).execute();

  if (backend === 'postgres') {
    await sql`
      create function weft_announce_event() returns trigger language plpgsql as $$
      declare payload text;
      begin
        payload := json_build_object('id', new.id, 'workspace_id', new.workspace_id,
          'execution_id', new.execution_id, 'type', new.type, 'step_id', new.step_id,
          'created_at', new.created_at, 'data', new.data::json)::text;
        if octet_length(payload) > 7900 then
          payload := json_build_object('id', new.id, 'workspace_id', new.workspace_id,
            'execution_id', new.execution_id, 'type', new.type, 'step_id', new.step_id,
            'created_at', new.created_at, 'truncated', true)::text;
        end if;
        perform pg_notify('weft_events', payload);
        return null;
      end $$`.execute(db);
    await sql`
      create trigger execution_events_announce after insert on execution_events
      for each row execute function weft_announce_event()`.execute(db);
  }
}
