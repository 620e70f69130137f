#!/usr/bin/env node
// Runs the whole test suite with Node's test runner. It checks PostgreSQL once first: when it is
// unreachable the PostgreSQL half of the suite is skipped with one line saying why, except under
// CI=true, where an unreachable PostgreSQL fails the run.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

const root = path.resolve(import.meta.dirname, '..');
const pgUrl = process.env.WEFT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function probePostgres() {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'helpers' ? [] : findTests(full);
    return entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

const env = { ...process.env, WEFT_TEST_PG_URL: pgUrl };
const problem = await probePostgres();
if (problem) {
  if (process.env.CI === 'true') {
    console.error(`PostgreSQL at ${pgUrl} is unreachable (${problem}); under CI=true that fails the suite.`);
    process.exit(1);
  }
  console.log(`PostgreSQL tests skipped: ${pgUrl} is unreachable (${problem}).`);
  env.WEFT_TEST_POSTGRES = 'off';
}

const filter = process.argv.slice(2);
const files = findTests(path.join(root, 'test'))
  .filter((file) => filter.length === 0 || filter.some((part) => file.includes(part)))
  .sort();
const concurrency = process.env.WEFT_TEST_CONCURRENCY ?? '4';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { cwd: root, env, stdio: 'inherit' },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
