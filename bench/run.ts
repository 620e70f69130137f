/**
 * `npm run bench`: measures Weft on SQLite and on PostgreSQL (when reachable) and prints a table.
 * Not part of `npm test`: timings depend on the machine. Each shape runs on a fresh database.
 *
 * Engine shapes (issue 3), no-op steps: a chain of 200 steps, a root with 500 parallel children
 * and a join, and 200 concurrent executions of a 5-step chain; SQLite with its default durability
 * (synchronous FULL) and PostgreSQL with synchronous_commit on.
 *
 * API shapes (foundation):
 * - validate: parse, validate and plan a 500-step fan-out/fan-in definition (CPU only).
 * - create: POST /workflows over loopback HTTP, sequentially.
 * - get: GET /workflows/{id}.
 * - list: GET /workflows?limit=50 over 1,000 workflows.
 *
 * Worker shapes (issue 4): poll-to-start latency and task throughput, see worker-shapes.ts.
 * `npm run bench -- workers` runs only those.
 *
 * Flow shapes (issue 10): parents calling child workflows and signal round trips, see flow-shapes.ts.
 * `npm run bench -- flow` runs only those.
 *
 * Concurrency shapes (issue 11): 1,000 executions over 10 keys with limit 5 against the same run
 * without a concurrency block, see concurrency-shapes.ts. `npm run bench -- concurrency`.
 *
 * UI shapes (issue 12): the bundle's size, the 500-step execution's layout and the first page of
 * 100,000 executions in Chromium, see ui-shapes.ts. `npm run bench -- ui`.
 *
 * Artifact shapes (issue 11): upload and download of a 100 MiB artifact through a `weft serve`
 * process, MB/s and the server's peak RSS growth, see artifact-shapes.ts. `npm run bench -- artifacts`.
 *
 * API shapes (issue 13): start throughput with 50 clients, the engine shapes started and observed
 * through the HTTP API of `weft serve` processes, and the scale-out factor on PostgreSQL, see
 * api-shapes.ts. `npm run bench -- api`.
 *
 * List shapes (issue 12, `api-lists`): ms per request of the execution lists (first page, a later
 * cursor page, `status=`, `workflow_id=` and more) over 100,000 executions of a workspace, see
 * list-shapes.ts. `npm run bench -- lists`.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { validateDefinition } from '../src/definition/validate-definition.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';
import { simpleDefinition, startTestServer, type TestServer } from '../test/helpers/api-server.js';
import { type Backend, TEST_PG_URL } from '../test/helpers/backends.js';
import { benchApiShapes } from './api-shapes.js';
import { benchArtifactShapes } from './artifact-shapes.js';
import { benchConcurrencyShapes } from './concurrency-shapes.js';
import { benchEngineShapes } from './engine-shapes.js';
import { benchFlowShapes } from './flow-shapes.js';
import { benchListShapes } from './list-shapes.js';
import { benchUiShapes, bundleSizes } from './ui-shapes.js';
import { benchWorkerShapes } from './worker-shapes.js';

interface Row {
  backend: string;
  shape: string;
  count: number;
  totalMs: number;
  unit: string;
  perOp: string;
}

const rows: Row[] = [];

function record(backend: string, shape: string, count: number, totalMs: number, detail?: string): void {
  rows.push({
    backend,
    shape,
    count,
    totalMs,
    unit: 'ms/op',
    perOp: detail ?? `${(totalMs / count).toFixed(3)} ms (${Math.round((count / totalMs) * 1000)}/s)`,
  });
  process.stderr.write(`  ${backend} ${shape}: ${(totalMs / count).toFixed(3)} ms/op\n`);
}

async function time(work: () => Promise<void> | void): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

function fanOutDefinition(width: number) {
  const children = Array.from({ length: width }, (_, index) => ({
    id: `child_${index}`,
    type: 'noop',
    input: { value: '{{ steps.root.output.value }}', index },
  }));
  return {
    name: `fan-out ${width}`,
    steps: [
      { id: 'root', type: 'noop', input: { value: '{{ input.value }}' } },
      ...children,
      { id: 'join', type: 'noop', depends_on: children.map((child) => child.id) },
    ],
  };
}

async function benchValidation(): Promise<void> {
  const lookup = new TaskTypeRegistry().lookup();
  const definition = fanOutDefinition(500);
  validateDefinition(definition, lookup);
  const count = 50;
  const elapsed = await time(() => {
    for (let index = 0; index < count; index += 1) {
      if (!validateDefinition(definition, lookup).valid) throw new Error('bench definition is invalid');
    }
  });
  record('cpu', 'validate 502-step definition', count, elapsed);
}

async function expectStatus(server: TestServer, method: string, path: string, status: number, body?: unknown) {
  const response = await server.request(method, path, { body });
  if (response.status !== status) throw new Error(`${method} ${path}: ${response.status} ${response.text}`);
  return response;
}

async function benchApi(backend: Backend): Promise<void> {
  const server = await startTestServer(backend);
  try {
    const creates = 1000;
    let lastId = '';
    const createMs = await time(async () => {
      for (let index = 0; index < creates; index += 1) {
        lastId = (await expectStatus(server, 'POST', '/workflows', 201, simpleDefinition(`bench ${index}`))).body.id;
      }
    });
    record(backend, 'POST /workflows', creates, createMs);
    const gets = 1000;
    record(
      backend,
      'GET /workflows/{id}',
      gets,
      await time(async () => {
        for (let index = 0; index < gets; index += 1) await expectStatus(server, 'GET', `/workflows/${lastId}`, 200);
      }),
    );
    const lists = 200;
    record(
      backend,
      'GET /workflows?limit=50',
      lists,
      await time(async () => {
        for (let index = 0; index < lists; index += 1) await expectStatus(server, 'GET', '/workflows?limit=50', 200);
      }),
    );
  } finally {
    await server.close();
  }
}

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function benchEngine(backend: Backend): Promise<void> {
  for (const result of await benchEngineShapes(backend)) {
    record(backend, `engine: ${result.shape} (per step)`, result.steps, result.totalMs);
  }
  if (backend === 'sqlite') {
    // The same shapes with synchronous=NORMAL: safe against a killed process, not a power loss.
    for (const result of await benchEngineShapes(backend, 'NORMAL')) {
      record('sqlite NORMAL', `engine: ${result.shape} (per step)`, result.steps, result.totalMs);
    }
  }
}

const only = process.argv[2];
// BENCH_BACKENDS=sqlite (or postgres) measures one backend only.
const wanted = (process.env.BENCH_BACKENDS ?? 'sqlite,postgres').split(',');
const backends: Backend[] = wanted.includes('sqlite') ? ['sqlite'] : [];
if (!wanted.includes('postgres')) {
  // Left out on purpose.
} else if (await postgresReachable()) backends.push('postgres');
else process.stderr.write(`PostgreSQL at ${TEST_PG_URL} is unreachable: its rows are missing.\n`);
if (only === undefined || only === 'engine') {
  await benchValidation();
  for (const backend of backends) await benchEngine(backend);
  for (const backend of backends) await benchApi(backend);
}
if (only === undefined || only === 'api') {
  for (const backend of backends) {
    for (const result of await benchApiShapes(backend)) {
      record(backend, `api: ${result.shape}`, result.count, result.totalMs, result.detail);
    }
  }
}
if (only === undefined || only === 'flow') {
  for (const backend of backends) {
    for (const result of await benchFlowShapes(backend)) {
      record(backend, `flow: ${result.shape}`, result.executions, result.totalMs, result.detail);
    }
  }
}
if (only === undefined || only === 'concurrency') {
  for (const backend of backends) {
    for (const result of await benchConcurrencyShapes(backend)) {
      record(backend, `concurrency: ${result.shape}`, result.executions, result.totalMs, result.detail);
    }
  }
}
if (only === undefined || only === 'artifacts') {
  for (const backend of backends) {
    for (const result of await benchArtifactShapes(backend)) {
      record(backend, `artifacts: ${result.shape}`, result.count, result.totalMs, result.detail);
    }
  }
}
if (only === undefined || only === 'lists') {
  for (const backend of backends) {
    for (const result of await benchListShapes(backend)) {
      record(backend, `api-lists: ${result.shape}`, result.count, result.totalMs, result.detail);
    }
  }
}
if (only === undefined || only === 'ui') {
  const bundle = bundleSizes();
  record('-', `ui: ${bundle.shape}`, bundle.count, bundle.totalMs, bundle.detail);
  for (const backend of backends) {
    for (const result of await benchUiShapes(backend)) {
      record(backend, `ui: ${result.shape}`, result.count, result.totalMs, result.detail);
    }
  }
}
if (only === undefined || only === 'workers') {
  for (const backend of backends) {
    for (const result of await benchWorkerShapes(backend)) {
      record(backend, `workers: ${result.shape}`, result.count, result.totalMs, result.detail);
    }
  }
}

const header = ['backend', 'shape', 'ops', 'total ms', 'per op'];
const lines = rows.map((row) => [row.backend, row.shape, String(row.count), row.totalMs.toFixed(0), row.perOp]);
const widths = header.map((title, column) =>
  Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)),
);
const format = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
console.log(format(header));
console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
for (const line of lines) console.log(format(line));
