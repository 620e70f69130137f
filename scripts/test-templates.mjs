// Migrated databases that the test run's servers copy instead of migrating a new database each
// (test/helpers/backends.ts, `migrated: true`): one PostgreSQL database and one SQLite file. A
// PostgreSQL migration run is about 130 ms of PostgreSQL's CPU and 50 ms of the test's, a SQLite
// one about 40 ms, and a run starts a few hundred servers and `weft` children; the copy (CREATE
// DATABASE … TEMPLATE, a file copy) costs what creating an empty database did. Tests that look at
// migrations themselves keep empty databases.
//
// The PostgreSQL template is named after the runner's process, so a run that died leaves a
// template the next run recognises and drops. Both are made from the package's build (dist/,
// rebuilt first when stale), so they hold exactly the migrations the tests' code has.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { isAlive } from './process-alive.mjs';

const PREFIX = 'weft_test_template_';

async function withClient(url, work) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates and migrates this run's template; returns its name. Drops the templates of dead runs. */
export async function createTemplate(root, adminUrl) {
  const name = `${PREFIX}${process.pid}`;
  await withClient(adminUrl, async (client) => {
    const { rows } = await client.query('select datname from pg_database where datname like $1', [`${PREFIX}%`]);
    for (const { datname } of rows) {
      const pid = Number(datname.slice(PREFIX.length));
      if (datname === name || !isAlive(pid)) await client.query(`drop database if exists ${datname} with (force)`);
    }
    await client.query(`create database ${name}`);
  });
  const databaseUrl = new URL(adminUrl);
  databaseUrl.pathname = `/${name}`;
  await migrateWithBuild(root, databaseUrl.toString());
  return name;
}

/** Migrates the database at `databaseUrl` with the package's build, and closes it. */
async function migrateWithBuild(root, databaseUrl) {
  const { loadConfig } = await import(pathToFileURL(path.join(root, 'dist', 'config.js')).href);
  const { openStore } = await import(pathToFileURL(path.join(root, 'dist', 'store', 'store.js')).href);
  const store = openStore({ ...loadConfig({}), databaseUrl }, (error) => {
    console.error(`the test template's database connection failed while idle: ${error.message}`);
  });
  try {
    await store.migrate();
  } finally {
    // On SQLite, closing the last connection checkpoints the write-ahead log into the file: the
    // file alone is then the whole database, and copying it is copying the database.
    await store.close();
  }
}

/** Drops the template (at the end of the run). */
export async function dropTemplate(adminUrl, name) {
  await withClient(adminUrl, (client) => client.query(`drop database if exists ${name} with (force)`));
}

/** Creates and migrates this run's SQLite template at `file`; returns `file`. */
export async function createSqliteTemplate(root, file) {
  await migrateWithBuild(root, file);
  if (existsSync(`${file}-wal`)) throw new Error(`the SQLite template ${file} kept its write-ahead log`);
  return file;
}
