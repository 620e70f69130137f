import { sql } from 'kysely';
import type { WorkflowDefinition } from '../src/definition/definition-schema.js';
import { adhocStartRequest } from '../src/engine/lifecycle.js';
import type { Store } from '../src/store/store.js';
import { startTestServer } from '../test/helpers/api-server.js';
import type { Backend } from '../test/helpers/backends.js';
import { chain, startBenchEngine } from './engine-shapes.js';

/**
 * Flow-control shapes of issue 10 on a fresh database each, with the durability of the engine
 * shapes (SQLite synchronous FULL, PostgreSQL synchronous_commit on):
 * - 200 parents, each one `workflow` step calling a saved child workflow of 3 `noop` steps.
 * - signal round trip: from the POST of a signal (over loopback HTTP) to the completion of the
 *   step waiting for it, one signal at a time to 200 waiting executions; p50 and p95.
 * - `for_each` over 10,000 `noop` items at concurrency 100, started over the API: wall time,
 *   items/s and the growth of the process's RSS (sampled every 50 ms).
 */

/** One measured flow shape. */
export interface FlowShapeResult {
  shape: string;
  /** Executions that ran, parents and children. */
  executions: number;
  totalMs: number;
  detail: string;
}

/** How many executions have ended, and when the last one did. */
export async function endedExecutions(store: Store): Promise<{ ended: number; last: number | undefined }> {
  const result = await sql<{ ended: number; last: string | null }>`
    select count(*) as ended, max(completed_at) as last from executions
    where status in ('completed', 'failed', 'cancelled')`.execute(
    // biome-ignore lint/suspicious/noExplicitAny: the bench reads the store's Kysely instance directly for one count.
    (store as any).db,
  );
  const row = result.rows[0];
  return { ended: Number(row?.ended ?? 0), last: row?.last ? new Date(row.last).getTime() : undefined };
}

/** 200 parents (ad hoc), each calling one saved 3-step child workflow; timed to the last end. */
async function parentsCallingChildren(backend: Backend, parents: number): Promise<FlowShapeResult> {
  const { store, engine, workspaceId, close } = await startBenchEngine(backend);
  try {
    const child = await store.workflows.create(workspaceId, chain(3, 'bench child'));
    const parent: WorkflowDefinition = {
      name: 'bench parent',
      steps: [{ id: 'call', type: 'workflow', input: { workflow_id: child.id, input: {} } }],
    };
    const started = Date.now();
    await Promise.all(
      Array.from({ length: parents }, () => engine.startExecution(adhocStartRequest(workspaceId, parent))),
    );
    engine.wake();
    const expected = parents * 2;
    let ended = await endedExecutions(store);
    while (ended.ended < expected || ended.last === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      ended = await endedExecutions(store);
    }
    const totalMs = ended.last - started;
    const failed = await store.executions.list(workspaceId, { status: 'failed' }, { limit: 1 });
    if (failed.items.length > 0) throw new Error(`parents and children: one failed: ${failed.items[0]?.error}`);
    const perSecond = (count: number) => Math.round((count / totalMs) * 1000);
    return {
      shape: `${parents} parents x one 3-step child`,
      executions: expected,
      totalMs,
      detail: `${perSecond(parents)} parents/s, ${perSecond(expected)} executions/s (parents and children)`,
    };
  } finally {
    await close();
  }
}

const percentile = (sorted: number[], fraction: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;

/** Signals one waiting execution at a time and times each until its step completed (its `completed_at`). */
async function signalRoundTrips(backend: Backend, count: number): Promise<FlowShapeResult> {
  const server = await startTestServer(backend);
  try {
    const definition = {
      name: 'bench wait',
      steps: [{ id: 'wait', type: 'wait_for_signal', input: { signal: 'go' } }],
    };
    const ids: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const started = await server.request('POST', '/executions', { body: { definition } });
      if (started.status !== 202) throw new Error(`start: ${started.status} ${started.text}`);
      ids.push(started.body.id);
    }
    for (const id of ids) {
      while ((await server.store.steps.get(id, 'wait'))?.status !== 'waiting') {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const latencies: number[] = [];
    const started = Date.now();
    for (const [index, id] of ids.entries()) {
      const sent = Date.now();
      const posted = await server.request('POST', `/executions/${id}/signals/go`, { body: { data: { index } } });
      if (posted.status !== 202) throw new Error(`signal: ${posted.status} ${posted.text}`);
      let step = await server.store.steps.get(id, 'wait');
      while (step?.status !== 'completed') {
        if (step?.status === 'failed') throw new Error(`signal round trip: the wait failed: ${step.error}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
        step = await server.store.steps.get(id, 'wait');
      }
      latencies.push(new Date(step.completed_at ?? sent).getTime() - sent);
    }
    const totalMs = Date.now() - started;
    latencies.sort((a, b) => a - b);
    return {
      shape: `signal round trip (${count}, one at a time)`,
      executions: count,
      totalMs,
      detail: `p50 ${percentile(latencies, 0.5)} ms, p95 ${percentile(latencies, 0.95)} ms, max ${latencies.at(-1)} ms`,
    };
  } finally {
    await server.close();
  }
}

/** One ad-hoc execution whose step runs `count` noop items, `concurrency` at a time. */
async function forEachItems(backend: Backend, count: number, concurrency: number): Promise<FlowShapeResult> {
  const server = await startTestServer(backend, { sqliteSynchronous: 'FULL', pgSynchronousCommit: 'on' });
  const rssAtStart = process.memoryUsage().rss;
  let rssPeak = rssAtStart;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 50);
  try {
    const definition = {
      name: 'bench for_each',
      steps: [{ id: 'each', type: 'noop', for_each: '{{ input.items }}', concurrency, input: { v: '{{ item }}' } }],
    };
    const items = Array.from({ length: count }, (_, index) => index);
    const started = Date.now();
    const posted = await server.request('POST', '/executions', { body: { definition, input: { items } } });
    if (posted.status !== 202) throw new Error(`start: ${posted.status} ${posted.text}`);
    let execution = await server.store.executions.getById(posted.body.id);
    while (execution && !['completed', 'failed', 'cancelled'].includes(execution.status)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      execution = await server.store.executions.getById(posted.body.id);
    }
    if (execution?.status !== 'completed') throw new Error(`for_each: the execution ended ${execution?.status}`);
    const totalMs = new Date(execution.completed_at ?? Date.now()).getTime() - started;
    return {
      shape: `for_each over ${count} noop items, concurrency ${concurrency}`,
      executions: count,
      totalMs,
      detail: `${Math.round((count / totalMs) * 1000)} items/s, RSS +${Math.round((rssPeak - rssAtStart) / 1e6)} MB`,
    };
  } finally {
    clearInterval(sampler);
    await server.close();
  }
}

/** Runs the flow shapes on a backend. */
export async function benchFlowShapes(backend: Backend): Promise<FlowShapeResult[]> {
  return [
    await parentsCallingChildren(backend, 200),
    await signalRoundTrips(backend, 200),
    await forEachItems(backend, 10_000, 100),
  ];
}
