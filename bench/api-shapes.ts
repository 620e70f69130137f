import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Pool } from 'undici';
import { type Backend, createTestDatabase, type TestDatabase } from '../test/helpers/backends.js';
import { type ServeProcess, startServe, startServes } from '../test/helpers/processes.js';

/**
 * API shapes (issue 13): Weft used the way its users use it, through the HTTP API of `weft serve`
 * child processes at the default durability (SQLite synchronous=FULL, PostgreSQL
 * synchronous_commit=on), measured from outside:
 * - start throughput: 50 clients POST starts of a one-step workflow for a while (the engine runs
 *   them meanwhile), starts/s and latency percentiles;
 * - batch starts: 5 clients POST batches of 1,000 starts (`/executions/batch`, the backfill route);
 * - the three engine shapes (chain of 200, fan-out 1+500+1, 200 runs x 5 steps), each started
 *   over HTTP and observed as the peer benchmark (../shared/peers) observes it: one list request
 *   per poll (`label=rep:<run>&status=completed`), 1 warm-up and the median of 3;
 * - memory: RSS of the server before and after 100,000 executions (BENCH_RSS_EXECUTIONS);
 * - scale-out (PostgreSQL): 1,000 runs x 5 steps on 1, 2 and 3 processes sharing the database,
 *   with a check that every step ran exactly once.
 * BENCH_API_PARTS (a comma list of starts, batch, shapes, rss and scale-out; all by default),
 * BENCH_START_SECONDS (10), BENCH_RSS_EXECUTIONS (100,000) and BENCH_SERVE_NODE_ARGS (say
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`) shape a run.
 * `npm run bench -- api`.
 */

/** One measured API shape. */
export interface ApiShapeResult {
  shape: string;
  count: number;
  totalMs: number;
  detail: string;
}

const KEY = 'bench-api-admin-key-0123456789abcdef0123';
/** The defaults, not the tests' faster durability (test/helpers/processes.ts). */
const DURABLE = { WEFT_SQLITE_SYNCHRONOUS: 'FULL', WEFT_PG_SYNCHRONOUS_COMMIT: 'on' };
const START_CLIENTS = 50;
const START_SECONDS = Number(process.env.BENCH_START_SECONDS ?? 10);
const REPS = 3;

function serveEnv(database: TestDatabase): Record<string, string> {
  return {
    ...DURABLE,
    WEFT_DATABASE_URL: database.config.databaseUrl,
    WEFT_DATA_DIR: database.config.dataDir,
    WEFT_ADMIN_KEY: KEY,
    WEFT_LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  };
}

/** A keep-alive HTTP client of one `weft serve` (undici: the least client CPU on the shared cores). */
class ApiClient {
  readonly #pool: Pool;
  constructor(url: string, connections = START_CLIENTS) {
    this.#pool = new Pool(url, { connections, pipelining: 1 });
  }
  // biome-ignore lint/suspicious/noExplicitAny: the bench reads a few fields of arbitrary answers.
  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
    const response = await this.#pool.request({
      method,
      path: `/api/v1${path}`,
      headers: {
        authorization: `Bearer ${KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.body.text();
    if (response.statusCode >= 400) throw new Error(`${method} ${path}: ${response.statusCode} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  }
  close(): Promise<void> {
    return this.#pool.close();
  }
}

const chainDefinition = (length: number, name: string) => ({
  name,
  steps: Array.from({ length }, (_, index) => ({
    id: `s${index}`,
    type: 'noop',
    ...(index > 0 ? { depends_on: [`s${index - 1}`] } : {}),
  })),
});

const fanOutDefinition = (width: number) => {
  const children = Array.from({ length: width }, (_, index) => ({
    id: `c${index}`,
    type: 'noop',
    depends_on: ['root'],
  }));
  return {
    name: `fan-out ${width}`,
    steps: [
      { id: 'root', type: 'noop' },
      ...children,
      { id: 'join', type: 'noop', depends_on: children.map((child) => child.id) },
    ],
  };
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** Resident memory of a process, in MB (Linux). */
export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match?.[1] ? Number(match[1]) / 1024 : Number.NaN;
}

/** 50 clients start executions of a one-step workflow for START_SECONDS; starts/s and latencies. */
async function startThroughput(client: ApiClient): Promise<ApiShapeResult> {
  const workflow = await client.call('POST', '/workflows', chainDefinition(1, 'start throughput'));
  const latencies: number[] = [];
  // Warm-up: compiled code paths and caches, as a server that has been up a while has them.
  await Promise.all(
    Array.from({ length: START_CLIENTS }, () => client.call('POST', `/workflows/${workflow.id}/executions`, {})),
  );
  const started = performance.now();
  const until = started + START_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: START_CLIENTS }, async () => {
      while (performance.now() < until) {
        const sent = performance.now();
        await client.call('POST', `/workflows/${workflow.id}/executions`, {});
        latencies.push(performance.now() - sent);
      }
    }),
  );
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const perSecond = Math.round((latencies.length / elapsed) * 1000);
  return {
    shape: `HTTP starts, ${START_CLIENTS} clients for ${START_SECONDS} s`,
    count: latencies.length,
    totalMs: elapsed,
    detail: `${perSecond} starts/s; p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
  };
}

/** Starts a batch holds in the batch part; clients sending batches at once. */
const BATCH_SIZE = 1000;
const BATCH_CLIENTS = 5;

/**
 * Backfill starts: BATCH_CLIENTS clients send `POST /workflows/{id}/executions/batch` of
 * BATCH_SIZE starts each for START_SECONDS while the engine runs them; starts/s and latencies.
 */
async function batchStartThroughput(client: ApiClient): Promise<ApiShapeResult> {
  const workflow = await client.call('POST', '/workflows', chainDefinition(1, 'batch start throughput'));
  const body = { executions: Array.from({ length: BATCH_SIZE }, (_, index) => ({ input: { index } })) };
  await client.call('POST', `/workflows/${workflow.id}/executions/batch`, body);
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + START_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: BATCH_CLIENTS }, async () => {
      while (performance.now() < until) {
        const sent = performance.now();
        await client.call('POST', `/workflows/${workflow.id}/executions/batch`, body);
        latencies.push(performance.now() - sent);
      }
    }),
  );
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const perSecond = Math.round(((latencies.length * BATCH_SIZE) / elapsed) * 1000);
  return {
    shape: `HTTP batch starts, ${BATCH_CLIENTS} clients x ${BATCH_SIZE} for ${START_SECONDS} s`,
    count: latencies.length * BATCH_SIZE,
    totalMs: elapsed,
    detail: `${perSecond} starts/s; a batch p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms`,
  };
}

/**
 * Starts `runs` executions labelled for this repetition and waits until one list request shows
 * them all completed (the peer benchmark's observer); returns the elapsed ms.
 */
async function startAndObserve(client: ApiClient, workflowId: string, runs: number): Promise<number> {
  const rep = `r${Date.now()}${Math.random().toString(36).slice(2, 6)}`;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: runs }, () =>
      client.call('POST', `/workflows/${workflowId}/executions`, { input: {}, labels: { rep } }),
    ),
  );
  for (let poll = 1; ; poll += 1) {
    const done = await client.call('GET', `/executions?label=rep:${rep}&status=completed&limit=200`);
    if ((done.items?.length ?? 0) >= runs) return performance.now() - started;
    if (
      poll % 50 === 0 &&
      (await client.call('GET', `/executions?label=rep:${rep}&status=failed&limit=1`)).items.length
    )
      throw new Error('an execution failed');
    await sleep(2);
  }
}

/** A shape run once to warm up, then REPS times; the median and the range. */
async function repeated(run: () => Promise<number>): Promise<{ median: number; range: string }> {
  await run();
  const times: number[] = [];
  for (let rep = 0; rep < REPS; rep += 1) times.push(await run());
  return { median: median(times), range: `${Math.min(...times).toFixed(0)}–${Math.max(...times).toFixed(0)}` };
}

/** The three engine shapes through the HTTP API, observed as the peer benchmark does. */
async function engineShapesOverHttp(client: ApiClient): Promise<ApiShapeResult[]> {
  const chain = await client.call('POST', '/workflows', chainDefinition(200, 'chain 200'));
  const fanOut = await client.call('POST', '/workflows', fanOutDefinition(500));
  const runs = await client.call('POST', '/workflows', chainDefinition(5, 'chain 5'));
  const chainTime = await repeated(() => startAndObserve(client, chain.id, 1));
  const fanOutTime = await repeated(() => startAndObserve(client, fanOut.id, 1));
  const runsTime = await repeated(() => startAndObserve(client, runs.id, 200));
  return [
    {
      shape: 'HTTP chain of 200 (per step)',
      count: 200,
      totalMs: chainTime.median,
      detail: `${(chainTime.median / 200).toFixed(2)} ms/step (runs ${chainTime.range} ms)`,
    },
    {
      shape: 'HTTP fan-out 1+500+1',
      count: 1,
      totalMs: fanOutTime.median,
      detail: `${fanOutTime.median.toFixed(0)} ms (runs ${fanOutTime.range} ms)`,
    },
    {
      shape: 'HTTP 200 runs x 5 steps',
      count: 1000,
      totalMs: runsTime.median,
      detail: `${Math.round(1000 / (runsTime.median / 1000))} steps/s (runs ${runsTime.range} ms)`,
    },
  ];
}

/**
 * 1,000 runs of 5 steps started round-robin at `processes` servers sharing one PostgreSQL database,
 * 50 starts in flight; completion observed in the database. Checks every step ran exactly once.
 */
async function scaleOut(processes: number): Promise<{ totalMs: number; stepsPerSecond: number }> {
  const database = await createTestDatabase('postgres');
  const servers = await startServes(
    database,
    Array.from({ length: processes }, () => serveEnv(database)),
  );
  const clients = servers.map((server) => new ApiClient(server.url, Math.ceil(START_CLIENTS / processes)));
  const sql = new pg.Client({ connectionString: database.config.databaseUrl });
  await sql.connect();
  try {
    const workflow = await (clients[0] as ApiClient).call('POST', '/workflows', chainDefinition(5, 'scale-out'));
    const runs = 1000;
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: START_CLIENTS }, async () => {
        while (next < runs) {
          const index = next;
          next += 1;
          await (clients[index % processes] as ApiClient).call('POST', `/workflows/${workflow.id}/executions`, {});
        }
      }),
    );
    for (;;) {
      const { rows } = await sql.query<{ done: string }>(
        `select count(*) as done from executions where status in ('completed', 'failed')`,
      );
      if (Number(rows[0]?.done) >= runs) break;
      await sleep(10);
    }
    const totalMs = performance.now() - started;
    const check = await sql.query<{ steps: string; attempts: string; failed: string }>(
      `select count(*) as steps, sum(attempts) as attempts,
              (select count(*) from executions where status <> 'completed') as failed
         from execution_steps where status = 'completed'`,
    );
    const row = check.rows[0];
    if (Number(row?.steps) !== runs * 5 || Number(row?.attempts) !== runs * 5 || Number(row?.failed) !== 0) {
      throw new Error(`scale-out on ${processes}: ${JSON.stringify(row)} (want ${runs * 5} steps, each once)`);
    }
    return { totalMs, stepsPerSecond: (runs * 5 * 1000) / totalMs };
  } finally {
    await sql.end();
    await Promise.all(clients.map((client) => client.close()));
    await Promise.all(servers.map((server) => server.stop('SIGTERM')));
    await database.drop();
  }
}

/**
 * RSS of a `weft serve` process before and after RSS_EXECUTIONS one-step executions started
 * through the API (50 clients) and finished: memory must not grow with history.
 */
async function rssAfterHistory(client: ApiClient, serve: ServeProcess): Promise<ApiShapeResult> {
  const executions = Number(process.env.BENCH_RSS_EXECUTIONS ?? 100_000);
  const workflow = await client.call('POST', '/workflows', chainDefinition(1, 'history'));
  const pid = serve.child.pid as number;
  // Warm: code compiled, caches and pools at their working size.
  await Promise.all(
    Array.from({ length: 1000 }, () => client.call('POST', `/workflows/${workflow.id}/executions`, {})),
  );
  await sleep(2000);
  const before = rssMb(pid);
  const started = performance.now();
  let next = 0;
  let peak = before;
  await Promise.all(
    Array.from({ length: START_CLIENTS }, async () => {
      while (next < executions) {
        next += 1;
        await client.call('POST', `/workflows/${workflow.id}/executions`, {});
        if (next % 1000 === 0) {
          peak = Math.max(peak, rssMb(pid));
          process.stderr.write(`\r  ${next} of ${executions} started, RSS ${rssMb(pid).toFixed(0)} MB   `);
        }
      }
    }),
  );
  for (;;) {
    const running = await client.call('GET', `/executions?workflow_id=${workflow.id}&status=running&limit=1`);
    if (running.items.length === 0) break;
    peak = Math.max(peak, rssMb(pid));
    await sleep(500);
  }
  const totalMs = performance.now() - started;
  await sleep(2000);
  const after = rssMb(pid);
  // Each execution's one step ran once: an attempt lost (a lease that expired while its outcome
  // waited to be settled) would show here. Asked after the RSS is read: on SQLite the answer
  // comes from a worker thread that maps the database file, whose pages RSS would count.
  const metrics = await client.call('GET', `/workflows/${workflow.id}/metrics`);
  const attempts = JSON.stringify(metrics.steps[0]?.by_status ?? {});
  if (attempts !== JSON.stringify({ completed: executions + 1000 })) {
    throw new Error(`RSS part: attempts ${attempts}, not ${executions + 1000} completed`);
  }
  process.stderr.write('\n');
  return {
    shape: `RSS after ${executions.toLocaleString('en-US')} executions`,
    count: executions,
    totalMs,
    detail: `${before.toFixed(0)} MB before, ${after.toFixed(0)} MB after (+${(after - before).toFixed(0)}), peak ${peak.toFixed(0)} MB`,
  };
}

async function withServe<T>(
  backend: Backend,
  work: (client: ApiClient, serve: ServeProcess) => Promise<T>,
): Promise<T> {
  const database = await createTestDatabase(backend);
  const serve = await startServe(serveEnv(database));
  const client = new ApiClient(serve.url);
  try {
    return await work(client, serve);
  } finally {
    await client.close();
    await serve.stop('SIGTERM');
    await database.drop();
  }
}

/** Every API shape on `backend` (the scale-out only on PostgreSQL). */
export async function benchApiShapes(backend: Backend): Promise<ApiShapeResult[]> {
  const parts = new Set((process.env.BENCH_API_PARTS ?? 'starts,batch,shapes,rss,scale-out').split(','));
  const results: ApiShapeResult[] = [];
  if (parts.has('starts')) results.push(await withServe(backend, (client) => startThroughput(client)));
  if (parts.has('batch')) results.push(await withServe(backend, (client) => batchStartThroughput(client)));
  if (parts.has('shapes')) results.push(...(await withServe(backend, (client) => engineShapesOverHttp(client))));
  if (parts.has('rss')) results.push(await withServe(backend, rssAfterHistory));
  if (backend === 'postgres' && parts.has('scale-out')) {
    const single = await scaleOut(1);
    results.push({
      shape: 'HTTP 1,000 runs x 5, 1 process',
      count: 5000,
      totalMs: single.totalMs,
      detail: `${Math.round(single.stepsPerSecond)} steps/s`,
    });
    for (const processes of [2, 3]) {
      const several = await scaleOut(processes);
      results.push({
        shape: `HTTP 1,000 runs x 5, ${processes} processes`,
        count: 5000,
        totalMs: several.totalMs,
        detail: `${Math.round(several.stepsPerSecond)} steps/s (x${(several.stepsPerSecond / single.stepsPerSecond).toFixed(2)})`,
      });
    }
  }
  return results;
}
