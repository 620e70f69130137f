import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Webhooks: subscriptions (`webhooks`), the workspace's signing secret for `webhook_url`
 * deliveries, and the durable outbox (`webhook_deliveries`, one row per event and target, with
 * each try in `webhook_attempts`).
 *
 * The outbox is filled by a trigger on `execution_events`, so a delivery is written in the same
 * transaction as its event (a crash never loses or duplicates one) and the engine pays no extra
 * round trip: with no subscription and no `webhook_url` the trigger inserts nothing. Delivery ids
 * are derived from the event and subscription ids (`dl_<event>_<webhook>`, `dl_<event>` for the
 * execution's `webhook_url`), so they sort by event time and are stable across retries (they
 * are the `webhook-id` header). Never edit: add a migration.
 */
export async function up(db: Kysely<unknown>, { idType, bigintType, backend }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  const bigint = sql.raw(bigintType);
  await db.schema
    .createTable('webhooks')
    .addColumn('id', id, (column) => column.primaryKey())
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('url', 'text', (column) => column.notNull())
    .addColumn('description', 'text')
    .addColumn('event_types', 'text', (column) => column.notNull())
    .addColumn('enabled', 'integer', (column) => column.notNull())
    .addColumn('secret', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('webhooks_workspace_idx').on('webhooks').columns(['workspace_id', 'id']).execute();

  await db.schema
    .createTable('webhook_signing_secrets')
    .addColumn('workspace_id', id, (column) => column.primaryKey().references('workspaces.id'))
    .addColumn('secret', 'text', (column) => column.notNull())
    .addColumn('previous_secret', 'text')
    .addColumn('previous_expires_at', 'text')
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('rotated_at', 'text')
    .execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', id, (column) => column.primaryKey())
    .addColumn('workspace_id', id, (column) => column.notNull())
    .addColumn('event_id', id, (column) => column.notNull())
    .addColumn('event_type', 'text', (column) => column.notNull())
    .addColumn('execution_id', id, (column) => column.notNull())
    .addColumn('webhook_id', id)
    .addColumn('url', 'text')
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('attempts', 'integer', (column) => column.notNull())
    .addColumn('next_attempt_at', bigint)
    .addColumn('lease_owner', 'text')
    .addColumn('attempted_at', 'text')
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('completed_at', 'text')
    .execute();
  // Partial: only deliveries still to send are in the dispatcher's index.
  await db.schema
    .createIndex('webhook_deliveries_due_idx')
    .on('webhook_deliveries')
    .columns(['next_attempt_at'])
    .where(sql.ref('status'), '=', 'pending')
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_webhook_idx')
    .on('webhook_deliveries')
    .columns(['webhook_id', 'id'])
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_execution_idx')
    .on('webhook_deliveries')
    .columns(['execution_id', 'id'])
    .execute();

  await db.schema
    .createTable('webhook_attempts')
    .addColumn('delivery_id', id, (column) => column.notNull())
    .addColumn('attempt', 'integer', (column) => column.notNull())
    .addColumn('workspace_id', id, (column) => column.notNull())
    .addColumn('url', 'text', (column) => column.notNull())
    .addColumn('status_code', 'integer')
    .addColumn('latency_ms', 'integer')
    .addColumn('error', 'text')
    .addColumn('started_at', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('webhook_attempts_pk', ['delivery_id', 'attempt'])
    .execute();

  if (backend === 'postgres') await createPostgresTrigger(db);
  else await createSqliteTrigger(db);
}

/**
 * PostgreSQL: one statement-level trigger per INSERT (the engine appends events in batches), over
 * the inserted rows as a transition table, announcing `weft_webhooks` at commit when it queued
 * anything. A step event reaches a `webhook_url` only when the definition sets
 * `suppress_step_events: false`; the definition is read only for those.
 */
async function createPostgresTrigger(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function weft_queue_webhooks() returns trigger language plpgsql as $$
    begin
      insert into webhook_deliveries
        (id, workspace_id, event_id, event_type, execution_id, webhook_id, url, status, attempts,
         next_attempt_at, created_at)
      select 'dl_' || substr(n.id, 5) || '_' || substr(w.id, 4), n.workspace_id, n.id, n.type,
             n.execution_id, w.id, null, 'pending', 0, 0, n.created_at
      from new_events n
      join webhooks w on w.workspace_id = n.workspace_id and w.enabled = 1
      where w.event_types = '[]' or w.event_types::jsonb ?| array['*', n.type]
      union all
      select 'dl_' || substr(n.id, 5), n.workspace_id, n.id, n.type, n.execution_id, null,
             e.webhook_url, 'pending', 0, 0, n.created_at
      from new_events n
      join executions e on e.id = n.execution_id
      where e.webhook_url is not null
        and case when n.type like 'workflow.%' then true
            else coalesce((coalesce(e.adhoc_definition,
                  (select v.definition from workflow_versions v
                   where v.workflow_id = e.workflow_id and v.version = e.workflow_version)
                )::json ->> 'suppress_step_events')::boolean, true) = false
            end;
      if found then
        perform pg_notify('weft_webhooks', '');
      end if;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger execution_events_webhooks after insert on execution_events
    referencing new table as new_events
    for each statement execute function weft_queue_webhooks()`.execute(db);
}

/**
 * SQLite: a row trigger (SQLite has no statement triggers); it runs inside the inserting
 * statement, so it costs two index lookups per event and no round trip. `weft_announce` is a
 * function the store registers on its connection: it wakes this process's dispatcher, whose
 * query then waits for the transaction to end (one connection).
 */
async function createSqliteTrigger(db: Kysely<unknown>): Promise<void> {
  await sql`
    create trigger execution_events_webhooks after insert on execution_events
    begin
      insert into webhook_deliveries
        (id, workspace_id, event_id, event_type, execution_id, webhook_id, url, status, attempts,
         next_attempt_at, created_at)
      select 'dl_' || substr(new.id, 5) || '_' || substr(w.id, 4), new.workspace_id, new.id,
             new.type, new.execution_id, w.id, null, 'pending', 0, 0, new.created_at
      from webhooks w
      where w.workspace_id = new.workspace_id and w.enabled = 1
        and (w.event_types = '[]'
             or exists (select 1 from json_each(w.event_types) t where t.value in ('*', new.type)))
      union all
      select 'dl_' || substr(new.id, 5), new.workspace_id, new.id, new.type, new.execution_id, null,
             e.webhook_url, 'pending', 0, 0, new.created_at
      from executions e
      where e.id = new.execution_id and e.webhook_url is not null
        and case when substr(new.type, 1, 9) = 'workflow.' then 1
            else coalesce(json_extract(coalesce(e.adhoc_definition,
                  (select v.definition from workflow_versions v
                   where v.workflow_id = e.workflow_id and v.version = e.workflow_version)),
                 '$.suppress_step_events'), 1) = 0
            end;
      select weft_announce('weft_webhooks') where changes() > 0;
    end`.execute(db);
}
