import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig, type WeftConfig } from '../../src/config.js';
import { loadPg } from '../../src/store/postgres/pg-module.js';
import { openStore, type Store } from '../../src/store/store.js';

// Counts read through `pg` here come back as numbers, as the store reads them.
loadPg();

/**
 * Test backends: every store and API suite runs once per backend. Each call makes a fresh
 * database (a SQLite file in a temp folder, or a new PostgreSQL database) so test files run in
 * parallel without sharing state. `scripts/run-tests.mjs` sets WEFT_TEST_POSTGRES=off, with one
 * printed line, when PostgreSQL is unreachable outside CI.
 */

export type Backend = 'sqlite' | 'postgres';

/** The PostgreSQL server used by tests (its `postgres` database is used to create others). */
export const TEST_PG_URL = process.env.WEFT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Backends this run covers. */
export function testBackends(): Backend[] {
  return process.env.WEFT_TEST_POSTGRES === 'off' ? ['sqlite'] : ['sqlite', 'postgres'];
}

/** A fresh, empty database and the configuration pointing at it. */
export interface TestDatabase {
  backend: Backend;
  config: WeftConfig;
  /** Opens a new store on this database (not migrated). */
  open(): Store;
  /** Errors of idle pooled connections, recorded for tests that cut the database off. */
  backgroundErrors: Error[];
  /** For PostgreSQL: the database name. */
  databaseName: string | undefined;
  /** Drops the database and removes temp files. */
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Runs one statement on the PostgreSQL maintenance database. */
export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * The test run's migrated PostgreSQL database and SQLite file (scripts/test-templates.mjs), set by
 * the runner; unset when a file runs on its own.
 */
const PG_TEMPLATE = process.env.WEFT_TEST_PG_TEMPLATE;
const SQLITE_TEMPLATE = process.env.WEFT_TEST_SQLITE_TEMPLATE;

/**
 * Creates a fresh database of a backend: empty, or with `migrated` possibly migrated already (a
 * copy of the run's template, when there is one; migrating again is then a no-op), for tests
 * that migrate it anyway (in process, or by starting `weft serve`) and do not look at the
 * migrations.
 */
export async function createTestDatabase(
  backend: Backend,
  options: { migrated?: boolean } = {},
): Promise<TestDatabase> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'weft-test-'));
  let databaseUrl = path.join(dataDir, 'weft.db');
  let databaseName: string | undefined;
  if (backend === 'postgres') {
    databaseName = `weft_test_${randomBytes(6).toString('hex')}`;
    const template = options.migrated && PG_TEMPLATE ? ` template ${PG_TEMPLATE}` : '';
    await adminQuery(`create database ${databaseName}${template}`);
    databaseUrl = withDatabase(TEST_PG_URL, databaseName);
  } else if (options.migrated && SQLITE_TEMPLATE) {
    copyFileSync(SQLITE_TEMPLATE, databaseUrl);
  }
  const config: WeftConfig = {
    ...loadConfig({}),
    dataDir,
    artifactsDir: path.join(dataDir, 'artifacts'),
    databaseUrl,
    logLevel: 'silent',
    sqliteSynchronous: 'NORMAL',
    pgSynchronousCommit: 'off',
    pgPoolSize: 5,
  };
  const backgroundErrors: Error[] = [];
  return {
    backend,
    config,
    databaseName,
    backgroundErrors,
    open: () => openStore(config, (error) => backgroundErrors.push(error)),
    async drop() {
      if (databaseName) await adminQuery(`drop database if exists ${databaseName} with (force)`);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Test options that run a test on PostgreSQL only and skip it elsewhere with the reason shown in
 * the report (never silently), like pg-boss's `itPostgresOnly`.
 */
export function postgresOnly(backend: Backend, reason: string): { skip?: string } {
  return backend === 'postgres' ? {} : { skip: `PostgreSQL only: ${reason}` };
}
