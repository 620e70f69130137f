import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { MigrationContext } from './migration-context.js';

/**
 * Executions, their steps, each attempt, and the event log. Never edit: add a new migration.
 * Engine times (`run_at`, `lease_expires_at`, `timeout_at`) are epoch milliseconds so the hot
 * queries compare integers; user-facing times are ISO text like everywhere else.
 */
export async function up(db: Kysely<unknown>, { idType, bigintType }: MigrationContext): Promise<void> {
  const id = sql.raw(idType);
  const bigint = sql.raw(bigintType);
  await db.schema
    .createTable('executions')
    .addColumn('id', id, (column) => column.primaryKey())
    .addColumn('workspace_id', id, (column) => column.notNull().references('workspaces.id'))
    .addColumn('workflow_id', id)
    .addColumn('workflow_version', 'integer')
    .addColumn('adhoc_definition', 'text')
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('input', 'text', (column) => column.notNull())
    .addColumn('output', 'text')
    .addColumn('error', 'text')
    .addColumn('labels', 'text', (column) => column.notNull())
    .addColumn('reference', 'text')
    .addColumn('trigger', 'text')
    .addColumn('webhook_url', 'text')
    .addColumn('steps_total', 'integer', (column) => column.notNull())
    .addColumn('steps_unsettled', 'integer', (column) => column.notNull())
    .addColumn('timeout_at', bigint)
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('started_at', 'text')
    .addColumn('completed_at', 'text')
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .addColumn('deleted_at', 'text')
    .execute();
  await db.schema.createIndex('executions_workspace_idx').on('executions').columns(['workspace_id', 'id']).execute();
  await db.schema
    .createIndex('executions_workflow_idx')
    .on('executions')
    .columns(['workspace_id', 'workflow_id', 'status'])
    .execute();
  await db.schema.createIndex('executions_timeout_idx').on('executions').columns(['status', 'timeout_at']).execute();

  await db.schema
    .createTable('execution_steps')
    .addColumn('execution_id', id, (column) => column.notNull().references('executions.id'))
    .addColumn('step_id', 'text', (column) => column.notNull())
    .addColumn('workspace_id', id, (column) => column.notNull())
    .addColumn('position', 'integer', (column) => column.notNull())
    .addColumn('type', 'text', (column) => column.notNull())
    .addColumn('status', 'text', (column) => column.notNull())
    .addColumn('skip_reason', 'text')
    .addColumn('deps_total', 'integer', (column) => column.notNull())
    .addColumn('deps_settled', 'integer', (column) => column.notNull())
    .addColumn('deps_completed', 'integer', (column) => column.notNull())
    .addColumn('attempts', 'integer', (column) => column.notNull())
    .addColumn('attempt_base', 'integer', (column) => column.notNull())
    .addColumn('lost_attempts', 'integer', (column) => column.notNull())
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
    .addPrimaryKeyConstraint('execution_steps_pk', ['execution_id', 'step_id'])
    .execute();
  // Partial indexes: only the rows the claim and lease sweeps look for, so most status changes of
  // a step (pending, completed, skipped...) touch no index entry.
  await db.schema
    .createIndex('execution_steps_due_idx')
    .on('execution_steps')
    .columns(['run_at'])
    .where(sql.ref('status'), 'in', sql`('queued', 'waiting')`)
    .execute();
  await db.schema
    .createIndex('execution_steps_lease_idx')
    .on('execution_steps')
    .columns(['lease_expires_at'])
    .where(sql.ref('status'), '=', 'running')
    .execute();

  await db.schema
    .createTable('step_attempts')
    .addColumn('execution_id', id, (column) => column.notNull())
    .addColumn('step_id', 'text', (column) => column.notNull())
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
    .addPrimaryKeyConstraint('step_attempts_pk', ['execution_id', 'step_id', 'attempt'])
    .execute();

  await db.schema
    .createTable('execution_events')
    .addColumn('id', id, (column) => column.primaryKey())
    .addColumn('workspace_id', id, (column) => column.notNull())
    .addColumn('execution_id', id, (column) => column.notNull())
    .addColumn('type', 'text', (column) => column.notNull())
    .addColumn('step_id', 'text')
    .addColumn('data', 'text', (column) => column.notNull())
    .addColumn('created_at', 'text', (column) => column.notNull())
    .execute();
  await db.schema
    .createIndex('execution_events_execution_idx')
    .on('execution_events')
    .columns(['execution_id', 'id'])
    .execute();
}
