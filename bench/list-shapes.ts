import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { ulid } from 'ulid';
import type { ExecutionRow, ExecutionStepRow, StepAttemptRow } from '../src/store/database-schema.js';
import { encodeCursor } from '../src/store/pagination.js';
import { simpleDefinition, startTestServer, type TestServer } from '../test/helpers/api-server.js';
import { type Backend, TEST_PG_URL } from '../test/helpers/backends.js';

/**
 * List shapes (issue 12): the execution lists of the web UI over 100,000 executions of one
 * workspace (five workflows and some ad-hoc runs, 30 days of history, two steps each with their
 * attempts), seeded
 * straight into the tables in bulk; then each request is sent over loopback HTTP to an in-process
 * server, 50 times after a warm-up, and timed end to end (query, views, JSON). PostgreSQL tables
 * are VACUUM ANALYZEd after the seed, as autovacuum would have done long before a table held that many
 * rows; SQLite runs without statistics, as Weft leaves it. `npm run bench -- lists`.
 *
 * The four requests of the issue come first: the first page, a page from a cursor half-way down,
 * `status=` (a status 4% of executions have) and `workflow_id=`. The others: a time window that
 * starts half-way down, workflow and status together, the workflow list with each workflow's last
 * execution, and the task types with the queue depth of 5,000 steps waiting for workers.
 */

/** One measured list request. */
export interface ListShapeResult {
  shape: string;
  count: number;
  totalMs: number;
  detail: string;
}

/** Executions seeded for the list shapes (and the UI's list shape). */
export const EXECUTIONS = 100_000;
const QUEUED_STEPS = 5_000;
const WORKFLOWS = 5;
const REPEATS = 50;
const DAY = 24 * 60 * 60 * 1000;

/** Status of the execution at `index`: mostly completed, some failed, cancelled and pending. */
function statusOf(index: number): string {
  const bucket = index % 100;
  if (bucket < 4) return 'failed';
  if (bucket < 6) return 'cancelled';
  if (bucket < 7) return 'pending';
  return 'completed';
}

const iso = (ms: number) => new Date(ms).toISOString();

/** An execution row created at `created` (its id carries that time, as the engine's ids do). */
function executionRow(
  workspaceId: string,
  workflowId: string | null,
  created: number,
  status: string,
  stepsTotal: number,
): ExecutionRow {
  const ended = status === 'completed' || status === 'failed' || status === 'cancelled';
  return {
    id: `ex_${ulid(created).toLowerCase()}`,
    workspace_id: workspaceId,
    workflow_id: workflowId,
    workflow_version: workflowId === null ? null : 1,
    adhoc_definition: workflowId === null ? JSON.stringify(simpleDefinition('bench ad hoc')) : null,
    status,
    input: '{"value":1}',
    output: status === 'completed' ? '{"doubled":2}' : null,
    error: status === 'failed' ? '{"message":"seeded failure"}' : null,
    labels: '{"source":"bench"}',
    reference: null,
    trigger: null,
    webhook_url: null,
    steps_total: stepsTotal,
    steps_unsettled: ended ? 0 : stepsTotal,
    timeout_at: null,
    created_at: iso(created),
    started_at: status === 'pending' ? null : iso(created),
    completed_at: ended ? iso(created + 250) : null,
    updated_at: iso(created),
    deleted_at: null,
    idempotency_key: null,
  };
}

function stepRow(execution: ExecutionRow, stepId: string, position: number, type: string, status: string) {
  return {
    execution_id: execution.id,
    step_id: stepId,
    workspace_id: execution.workspace_id,
    position,
    type,
    attempt_type: type,
    status,
    skip_reason: null,
    deps_total: position,
    deps_settled: position,
    deps_completed: position,
    attempts: status === 'queued' ? 0 : 1,
    attempt_base: 0,
    lost_attempts: 0,
    used_fallback: 0,
    input: null,
    output: status === 'completed' ? '{}' : null,
    error: null,
    run_at: status === 'queued' ? 0 : null,
    lease_owner: null,
    lease_expires_at: null,
    queued_at: execution.created_at,
    started_at: status === 'queued' ? null : execution.created_at,
    completed_at: status === 'completed' ? execution.completed_at : null,
  } satisfies ExecutionStepRow;
}

/** The attempt of a seeded step that ran: from 0 to 199 ms (by `index`), ended as `status`. */
function attemptRow(execution: ExecutionRow, stepId: string, index: number, status: string): StepAttemptRow {
  const started = Date.parse(execution.created_at);
  return {
    execution_id: execution.id,
    step_id: stepId,
    attempt: 1,
    workspace_id: execution.workspace_id,
    type: stepId === 'first' ? 'noop' : 'transform',
    status,
    used_fallback: 0,
    error: status === 'failed' ? '{"message":"seeded failure"}' : null,
    worker: null,
    queued_at: execution.created_at,
    started_at: execution.created_at,
    ended_at: iso(started + ((index * 7919) % 200)),
  };
}

/** Seeds the history and the worker backlog; returns the executions, oldest first, and the workflows. */
export async function seedListHistory(server: TestServer, workspaceId: string) {
  const workflows: string[] = [];
  for (let index = 0; index < WORKFLOWS; index += 1) {
    const created = await server.request('POST', '/workflows', { body: simpleDefinition(`Bench list ${index}`) });
    workflows.push(created.body.id);
  }
  await server.request('PUT', '/task-types/bench.work', { body: {} });
  const start = Date.now() - 30 * DAY;
  const spacing = Math.floor((29 * DAY) / EXECUTIONS);
  const ids: string[] = [];
  const times: string[] = [];
  for (let from = 0; from < EXECUTIONS; from += 2000) {
    const executions: ExecutionRow[] = [];
    const steps: ExecutionStepRow[] = [];
    const attempts: StepAttemptRow[] = [];
    for (let index = from; index < Math.min(from + 2000, EXECUTIONS); index += 1) {
      // One in twenty is an ad-hoc run; the rest spread over the workflows.
      const workflowId = index % 20 === 19 ? null : (workflows[index % WORKFLOWS] ?? null);
      const status = statusOf(index);
      const execution = executionRow(workspaceId, workflowId, start + index * spacing, status, 2);
      executions.push(execution);
      ids.push(execution.id);
      times.push(execution.created_at);
      const stepStatus = status === 'pending' ? 'pending' : status === 'completed' ? 'completed' : 'cancelled';
      steps.push(
        stepRow(execution, 'first', 0, 'noop', stepStatus),
        stepRow(execution, 'second', 1, 'transform', stepStatus),
      );
      if (execution.started_at !== null) {
        attempts.push(attemptRow(execution, 'first', index, 'completed'));
        if (status !== 'cancelled') attempts.push(attemptRow(execution, 'second', index, status));
      }
    }
    await server.store.transaction(async (tx) => {
      await tx.executions.insertMany(executions);
      await tx.steps.insertMany(steps);
      await tx.executionLog.recordAttempts(attempts);
    });
  }
  // The worker backlog: running executions (of the last day) whose one step waits for a worker.
  for (let from = 0; from < QUEUED_STEPS; from += 2000) {
    const executions: ExecutionRow[] = [];
    const steps: ExecutionStepRow[] = [];
    for (let index = from; index < Math.min(from + 2000, QUEUED_STEPS); index += 1) {
      const execution = executionRow(workspaceId, null, Date.now() - DAY + index * 10, 'running', 1);
      executions.push(execution);
      steps.push(stepRow(execution, 'work', 0, 'bench.work', 'queued'));
    }
    await server.store.transaction(async (tx) => {
      await tx.executions.insertMany(executions);
      await tx.steps.insertMany(steps);
    });
  }
  return { ids, times, workflows };
}

/**
 * VACUUM ANALYZE on PostgreSQL, as autovacuum does for tables that grew by inserts (PostgreSQL 13
 * and later vacuum after inserts too, which marks pages all-visible for index-only scans).
 */
export async function analyze(server: TestServer): Promise<void> {
  if (server.backend !== 'postgres' || !server.database.databaseName) return;
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${server.database.databaseName}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query('vacuum analyze');
  } finally {
    await client.end();
  }
}

/** Times `REPEATS` sends of one request after two warm-up sends; checks the page is full. */
async function measure(server: TestServer, shape: string, path: string, expectItems: number): Promise<ListShapeResult> {
  const send = async () => {
    const response = await server.request('GET', path);
    if (response.status !== 200) throw new Error(`${shape}: ${response.status} ${response.text.slice(0, 500)}`);
    if (response.body.items.length < expectItems) {
      throw new Error(`${shape}: ${response.body.items.length} items, expected ${expectItems}`);
    }
  };
  await send();
  await send();
  const samples: number[] = [];
  for (let index = 0; index < REPEATS; index += 1) {
    const started = performance.now();
    await send();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const totalMs = samples.reduce((sum, ms) => sum + ms, 0);
  const at = (fraction: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * fraction))] ?? 0;
  return {
    shape,
    count: REPEATS,
    totalMs,
    detail: `${(totalMs / REPEATS).toFixed(2)} ms/request (p50 ${at(0.5).toFixed(2)}, p95 ${at(0.95).toFixed(2)})`,
  };
}

/**
 * Times aggregate requests (stats, metrics) that are not answered from the 5-second cache of
 * identical questions: each asks with its own `since` (a millisecond apart, all before the
 * history), so each is computed. Then sends 10 at once while /healthz is asked every 20 ms, and
 * reports the slowest /healthz answer meanwhile (does the aggregate block the engine's loop?).
 */
async function measureAggregate(
  server: TestServer,
  shape: string,
  path: (since: string) => string,
): Promise<ListShapeResult> {
  let distinct = 0;
  const since = () => new Date(Date.UTC(2000, 0, 1) + distinct++).toISOString();
  const send = async () => {
    const response = await server.request('GET', path(since()));
    if (response.status !== 200) throw new Error(`${shape}: ${response.status} ${response.text.slice(0, 500)}`);
  };
  await send();
  const samples: number[] = [];
  for (let index = 0; index < 10; index += 1) {
    const started = performance.now();
    await send();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  let parallelDone = false;
  let worstHealth = 0;
  const health = (async () => {
    while (!parallelDone) {
      const started = performance.now();
      await server.request('GET', '!/healthz');
      worstHealth = Math.max(worstHealth, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const parallelStarted = performance.now();
  await Promise.all(Array.from({ length: 10 }, () => send()));
  const parallelMs = performance.now() - parallelStarted;
  parallelDone = true;
  await health;
  const totalMs = samples.reduce((sum, ms) => sum + ms, 0);
  return {
    shape,
    count: samples.length,
    totalMs,
    detail: `p50 ${(samples[5] ?? 0).toFixed(1)} ms, max ${(samples[9] ?? 0).toFixed(1)} ms; 10 at once ${parallelMs.toFixed(0)} ms, /healthz worst ${worstHealth.toFixed(1)} ms meanwhile`,
  };
}

/** The list requests over 100,000 executions on one backend. */
export async function benchListShapes(backend: Backend): Promise<ListShapeResult[]> {
  const server = await startTestServer(backend);
  try {
    const workspaceId = (await server.request('GET', '/workspaces')).body.items[0].id as string;
    const seedStart = performance.now();
    const { ids, times, workflows } = await seedListHistory(server, workspaceId);
    await analyze(server);
    process.stderr.write(
      `  ${backend} lists: seeded ${EXECUTIONS + QUEUED_STEPS} executions in ${((performance.now() - seedStart) / 1000).toFixed(1)} s\n`,
    );
    const middle = Math.floor(EXECUTIONS / 2);
    const cursor = encodeURIComponent(encodeCursor(ids[middle] ?? ''));
    const workflow = workflows[2] ?? '';
    const results = [
      await measure(server, 'GET /executions?limit=50', '/executions?limit=50', 50),
      await measure(server, 'GET /executions?limit=50&cursor=(half-way)', `/executions?limit=50&cursor=${cursor}`, 50),
      await measure(server, 'GET /executions?limit=50&status=failed (4%)', '/executions?limit=50&status=failed', 50),
      await measure(
        server,
        'GET /executions?limit=50&workflow_id=',
        `/executions?limit=50&workflow_id=${workflow}`,
        50,
      ),
      await measure(
        server,
        'GET /executions?limit=50&created_before=(half-way)',
        `/executions?limit=50&created_before=${times[middle]}`,
        50,
      ),
      await measure(
        server,
        'GET /workflows/{id}/executions?limit=50&status=failed',
        `/workflows/${workflow}/executions?limit=50&status=failed`,
        50,
      ),
      await measure(server, 'GET /workflows?limit=50 (last_execution)', '/workflows?limit=50', WORKFLOWS),
      await measure(server, `GET /task-types (${QUEUED_STEPS} queued)`, '/task-types', 1),
      await measureAggregate(server, 'GET /executions/stats (uncached)', (since) => `/executions/stats?since=${since}`),
      await measureAggregate(
        server,
        'GET /workflows/{id}/metrics (uncached)',
        (since) => `/workflows/${workflow}/metrics?since=${since}`,
      ),
    ];
    const depth = await server.request('GET', '/task-types/bench.work');
    if (depth.body.queued !== QUEUED_STEPS) throw new Error(`queue depth ${depth.body.queued}, not ${QUEUED_STEPS}`);
    return results;
  } finally {
    await server.close();
  }
}
