import type { Kysely, Migration, MigrationProvider } from 'kysely';
import * as foundation from './0001-foundation.js';
import * as executions from './0002-executions.js';
import * as taskTypes from './0003-task-types.js';
import * as events from './0004-events.js';
import * as webhooks from './0005-webhooks.js';
import * as executionIdempotency from './0006-execution-idempotency.js';
import * as ownerRole from './0007-owner-role.js';
import * as secrets from './0008-secrets.js';
import * as stepItems from './0009-step-items.js';
import * as childWorkflows from './0010-child-workflows.js';
import * as signals from './0011-signals.js';
import * as itemAttempts from './0012-item-attempts.js';
import * as concurrencyKeys from './0013-concurrency-keys.js';
import * as artifacts from './0014-artifacts.js';
import * as workers from './0015-workers.js';
import * as executionListIndexes from './0016-execution-list-indexes.js';
import * as executionLabelIndex from './0017-execution-label-index.js';
import * as executionDurations from './0018-execution-durations.js';
import * as executionLabels from './0019-execution-labels.js';
import type { MigrationContext } from './migration-context.js';

/**
 * The numbered, append-only list of migrations. Kysely's migrator applies the pending ones in
 * one transaction together with their ledger rows (`weft_migration`), under a lock on PostgreSQL
 * so several processes starting at once migrate once.
 */
const MIGRATIONS: Record<string, { up: (db: Kysely<unknown>, context: MigrationContext) => Promise<void> }> = {
  '0001-foundation': foundation,
  '0002-executions': executions,
  '0003-task-types': taskTypes,
  '0004-events': events,
  '0005-webhooks': webhooks,
  '0006-execution-idempotency': executionIdempotency,
  '0007-owner-role': ownerRole,
  '0008-secrets': secrets,
  '0009-step-items': stepItems,
  '0010-child-workflows': childWorkflows,
  '0011-signals': signals,
  '0012-item-attempts': itemAttempts,
  '0013-concurrency-keys': concurrencyKeys,
  '0014-artifacts': artifacts,
  '0015-workers': workers,
  '0016-execution-list-indexes': executionListIndexes,
  '0017-execution-label-index': executionLabelIndex,
  '0018-execution-durations': executionDurations,
  '0019-execution-labels': executionLabels,
};

/** A Kysely migration provider for one backend. */
export function migrationProvider(context: MigrationContext): MigrationProvider {
  return {
    async getMigrations() {
      const migrations: Record<string, Migration> = {};
      for (const [name, module] of Object.entries(MIGRATIONS)) {
        migrations[name] = { up: (db) => module.up(db, context) };
      }
      return migrations;
    },
  };
}

/** Names of every migration, in order. */
export const MIGRATION_NAMES = Object.freeze(Object.keys(MIGRATIONS));
