// A migrated PostgreSQL database that the test run's in-process servers copy instead of migrating
// a new database each (test/helpers/backends.ts, `migrated: true`). A migration run is about 130 ms
// of PostgreSQL's CPU and 50 ms of the test's, and a run starts a hundred such servers; the copy
// (CREATE DATABASE … TEMPLATE) costs what creating an empty database did. Tests that look at
// migrations themselves, and `weft` child processes, which migrate at start, keep empty databases.
//
// Named after the runner's process, so a run that died leaves a template the next run recognises
// and drops. It is made from the package's build (dist/, rebuilt first when stale), so it holds
// exactly the migrations the tests' code has.
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
  const { loadConfig } = await import(pathToFileURL(path.join(root, 'dist', 'config.js')).href);
  const { openStore } = await import(pathToFileURL(path.join(root, 'dist', 'store', 'store.js')).href);
  const store = openStore({ ...loadConfig({}), databaseUrl: databaseUrl.toString() }, (error) => {
    console.error(`the test template's database connection failed while idle: ${error.message}`);
  });
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
  return name;
}

/** Drops the template (at the end of the run). */
export async function dropTemplate(adminUrl, name) {
  await withClient(adminUrl, (client) => client.query(`drop database if exists ${name} with (force)`));
}
