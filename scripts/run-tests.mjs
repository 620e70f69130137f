#!/usr/bin/env node
// Runs the whole test suite with Node's test runner. It checks PostgreSQL once first: when it is
// unreachable the PostgreSQL half of the suite is skipped with one line saying why, except under
// CI=true, where an unreachable PostgreSQL fails the run.
//
// No file may hang the run: every test file's process loads scripts/test-exit-watchdog.mjs, which
// fails a file still alive WEFT_TEST_EXIT_TIMEOUT_SECONDS (30) after its last test and names what
// is still open. A file too blocked to report itself is killed from here a little later, and the
// whole run ends by WEFT_TEST_DEADLINE_SECONDS (1200): the files still running are killed and
// named, so Node's summary still prints with them failed.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { compileTests } from './compile-tests.mjs';
import { isAlive } from './process-alive.mjs';
import { rebuildStaleBuilds } from './stale-builds.mjs';
import { createSqliteTemplate, createTemplate, dropTemplate } from './test-templates.mjs';

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
    // Fixtures are run by the tests that use them (some are meant to fail or to hang).
    if (entry.isDirectory()) return entry.name === 'helpers' || entry.name === 'fixtures' ? [] : findTests(full);
    return entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

// The tests' `weft` children run the server's one-file build; the UI tests drive the built app.
if (!process.env.WEFT_TEST_DIR) rebuildStaleBuilds('');

// The files that take longest, longest first (from recent runs; a rough order is enough). Four files
// run at a time and the run ends with its last file: a long file that started late, in name order,
// held the whole run up while the others had finished. The rest follow in name order.
const LONGEST_FIRST = [
  'ui.',
  'engine.crash-loop',
  'engine.poison-pill',
  'workers.processes',
  'api.fuzz',
  'artifacts.processes',
  'engine.crash.',
  'signals.crash',
  'webhooks.restart',
  'child-workflows.crash',
  'concurrency.processes',
  'for-each.crash',
  'engine.restart',
  'engine.start-claims',
  'logs.serve',
  'events.schedules',
  'cli.',
  'for-each.flow.crash',
  'metrics.scale',
];
function longestFirst(a, b) {
  const rank = (file) => {
    const index = LONGEST_FIRST.findIndex((prefix) => path.basename(file).startsWith(prefix));
    return index === -1 ? LONGEST_FIRST.length : index;
  };
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
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
// Test servers copy one migrated database of each backend (scripts/test-templates.mjs); a nested
// run (WEFT_TEST_DIR) uses its parent's.
const template = problem || process.env.WEFT_TEST_DIR ? undefined : await createTemplate(root, pgUrl);
if (template) env.WEFT_TEST_PG_TEMPLATE = template;

const filter = process.argv.slice(2);
const testDir = path.resolve(root, process.env.WEFT_TEST_DIR ?? 'test');
// The web UI's pure modules (graph building, status looks, timeline geometry) keep their unit tests
// beside them under web/src; they run with the rest unless a test folder is named.
const webTests = process.env.WEFT_TEST_DIR ? [] : findTests(path.join(root, 'web', 'src'));
const files = [...findTests(testDir), ...webTests]
  .filter((file) => filter.length === 0 || filter.some((part) => file.includes(part)))
  .sort(longestFirst);
const concurrency = process.env.WEFT_TEST_CONCURRENCY ?? '4';
const graceSeconds = Number(process.env.WEFT_TEST_EXIT_TIMEOUT_SECONDS ?? 30);
const deadlineSeconds = Number(process.env.WEFT_TEST_DEADLINE_SECONDS ?? 1200);
// The watchdog reports itself; this kills a file that could not (a blocked event loop) a little later.
const killAfterMs = (graceSeconds + Math.min(15, Math.max(2, graceSeconds / 2))) * 1000;
const markerDir = mkdtempSync(path.join(os.tmpdir(), 'weft-test-watchdog-'));
env.WEFT_TEST_WATCHDOG_DIR = markerDir;
const sqliteTemplateDir = process.env.WEFT_TEST_DIR
  ? undefined
  : mkdtempSync(path.join(os.tmpdir(), 'weft-test-template-'));
if (sqliteTemplateDir) {
  env.WEFT_TEST_SQLITE_TEMPLATE = await createSqliteTemplate(root, path.join(sqliteTemplateDir, 'weft.db'));
}
env.WEFT_TEST_EXIT_TIMEOUT_SECONDS = String(graceSeconds);

const watchdog = pathToFileURL(path.join(root, 'scripts', 'test-exit-watchdog.mjs')).href;
// Files named *.serial.test.ts measure how responsive the event loop stays (an expression burning,
// a big input validating). With four files sharing two cores their loop gaps measure the neighbours,
// not Weft, so they run after the others, one at a time.
// The suite's own files run compiled, with no loader hooks (scripts/compile-tests.mjs); a folder
// named by WEFT_TEST_DIR (the runner's own tests of itself, over fixtures) runs through tsx.
const build = process.env.WEFT_TEST_DIR ? undefined : await compileTests(root, files);
const toRun = (file) => (build ? build.compiled(file) : file);
const serialFiles = files.filter((file) => file.endsWith('.serial.test.ts')).map(toRun);
const parallelFiles = files.filter((file) => !file.endsWith('.serial.test.ts')).map(toRun);
/**
 * What every test file's process loads first: tsx for TypeScript sources, and the exit watchdog.
 * Bundled files run without `--enable-source-maps`: the report maps their positions instead
 * (scripts/test-source-positions.mjs).
 */
const loaders = [...(build ? [] : ['--import', 'tsx']), '--import', watchdog];
/** The process running the phase under way (scripts/test-phase.mjs). */
let child;

/** Runs one phase of the suite; resolves with its exit code (1 when a signal ended it). */
function runPhase(phaseFiles, phaseConcurrency, flags = []) {
  return new Promise((resolve) => {
    child = spawn(
      process.execPath,
      [
        ...flags,
        ...loaders,
        // Not `node --test`, which would sort the files by name again.
        path.join(root, 'scripts', 'test-phase.mjs'),
        String(phaseConcurrency),
        ...phaseFiles,
      ],
      { cwd: root, env, stdio: 'inherit' },
    );
    child.on('exit', (code, signal) => resolve(code || (signal ? 1 : 0)));
  });
}

/** Test files whose processes are alive, from the watchdog's markers: pid, file, and when their tests ended. */
function fileProcesses() {
  const byPid = new Map();
  for (const name of readdirSync(markerDir)) {
    const [pid, state] = name.split('.');
    const full = path.join(markerDir, name);
    let text;
    try {
      text = readFileSync(full, 'utf8');
    } catch {
      continue; // the file exited meanwhile
    }
    const entry = byPid.get(pid) ?? { pid: Number(pid), file: '?', doneAt: undefined };
    if (state === 'running') entry.file = text;
    if (state === 'done') entry.doneAt = statSync(full, { throwIfNoEntry: false })?.mtimeMs;
    if (state === 'report') entry.reported = true;
    byPid.set(pid, entry);
  }
  return [...byPid.values()].filter((entry) => isAlive(entry.pid));
}

const killed = [];
function kill(entry, why) {
  if (killed.some((other) => other.pid === entry.pid)) return;
  killed.push({ ...entry, why });
  console.error(`\n✖ ${entry.file}: ${why}; killing its process ${entry.pid}.`);
  try {
    process.kill(entry.pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

const startedAt = Date.now();
let deadlineHit = false;
const patrol = setInterval(() => {
  const now = Date.now();
  if (now - startedAt > deadlineSeconds * 1000) {
    if (!deadlineHit) {
      deadlineHit = true;
      console.error(`\n✖ The run passed its deadline of ${deadlineSeconds} s (WEFT_TEST_DEADLINE_SECONDS).`);
      for (const entry of fileProcesses()) kill(entry, `still running at the deadline of ${deadlineSeconds} s`);
      // Node's runner prints its summary once the killed files are reported; if it cannot, it goes too.
      setTimeout(() => child?.kill('SIGKILL'), 10_000).unref();
    }
    return;
  }
  for (const entry of fileProcesses()) {
    if (entry.doneAt !== undefined && now - entry.doneAt > killAfterMs) {
      kill(
        entry,
        `did not exit ${Math.round((now - entry.doneAt) / 1000)} s after its last test and did not report why (a blocked event loop?)`,
      );
    }
  }
}, 1000);
patrol.unref();

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    child?.kill(signal);
    build?.remove();
  });
}

let exitCode = 0;
// The parallel phase's files run without V8's optimising compiler. A test file's process lives a
// few seconds and runs most of its code a few times: TurboFan's compiles, on threads of their
// own, cost more CPU than they saved, and the suite is bound by CPU (two cores, four files and
// their children). It took the parallel phase from 586 s to 504 s, with the PostgreSQL template.
// The serial files, which time the event loop, run as shipped; so do the `weft` children.
// WEFT_TEST_V8_FLAGS replaces the flags (empty: none).
const parallelFlags = (process.env.WEFT_TEST_V8_FLAGS ?? '--no-opt').split(' ').filter(Boolean);
if (parallelFiles.length > 0) exitCode = await runPhase(parallelFiles, concurrency, parallelFlags);
if (serialFiles.length > 0 && !deadlineHit) {
  console.log(`\nRunning ${serialFiles.length} timing-sensitive file(s) one at a time.`);
  exitCode = (await runPhase(serialFiles, 1)) || exitCode;
}
clearInterval(patrol);
// Where the time went: the files that lived longest (each file's process writes its life time).
const fileTimes = readdirSync(markerDir)
  .filter((name) => name.endsWith('.time'))
  .map((name) => readFileSync(path.join(markerDir, name), 'utf8').split('\t'))
  .map(([ms, cpuMs, file]) => ({ ms: Number(ms), cpuMs: Number(cpuMs), file }))
  .sort((a, b) => b.ms - a.ms);
if (fileTimes.length > 1) {
  const total = fileTimes.reduce((sum, { ms }) => sum + ms, 0);
  const cpu = fileTimes.reduce((sum, { cpuMs }) => sum + cpuMs, 0);
  const shown = process.env.WEFT_TEST_TIMES === 'all' ? fileTimes : fileTimes.slice(0, 20);
  console.log(
    `\nSlowest test files (${shown.length === fileTimes.length ? 'all' : 'WEFT_TEST_TIMES=all lists all'} of ${fileTimes.length}: ${Math.round(total / 1000)} s in all, ${Math.round(cpu / 1000)} s of CPU with their child processes):`,
  );
  for (const { ms, cpuMs, file } of shown) {
    console.log(`${(ms / 1000).toFixed(1).padStart(7)} s  ${(cpuMs / 1000).toFixed(1).padStart(6)} s CPU  ${file}`);
  }
}
const reports = readdirSync(markerDir).filter((name) => name.endsWith('.report'));
if (reports.length > 0 || killed.length > 0) {
  console.error('\nTest files that did not exit by themselves:');
  for (const name of reports) console.error(readFileSync(path.join(markerDir, name), 'utf8').trimEnd());
  for (const entry of killed) console.error(`✖ ${entry.file}: ${entry.why}; killed.`);
}
rmSync(markerDir, { recursive: true, force: true });
if (sqliteTemplateDir) rmSync(sqliteTemplateDir, { recursive: true, force: true });
build?.remove();
if (template) await dropTemplate(pgUrl, template);
const failed = reports.length > 0 || killed.length > 0 || deadlineHit;
process.exit(exitCode || (failed ? 1 : 0));
