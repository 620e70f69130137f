import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { buildServer } from '../src/api/server.js';
import { engineFromConfig } from '../src/engine/engine-from-config.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';
import { createKey, sendRequest, startTestServer, type TestServer } from '../test/helpers/api-server.js';
import type { Backend } from '../test/helpers/backends.js';

/**
 * External worker shapes (issue 4), over loopback HTTP:
 * - poll-to-start latency: a worker waits in a long poll (wait_seconds 20); an execution with one
 *   worker step is started; measured from sending the start to the poll answering with the task.
 *   On PostgreSQL the poll is served by a second server (its own pool, engine and LISTEN
 *   connection) on the same database, so the wake-up crosses servers through NOTIFY.
 * - throughput: 500 one-step executions drained by 4 worker loops (poll up to 25, complete each).
 */

export interface WorkerShapeResult {
  shape: string;
  count: number;
  totalMs: number;
  detail: string;
}

async function secondServer(first: TestServer) {
  const store = first.database.open();
  const taskTypes = new TaskTypeRegistry();
  const logger = pino({ level: 'silent' });
  const engine = engineFromConfig(store, taskTypes, logger, first.config);
  const app = await buildServer({ store, taskTypes, config: first.config, logger, engine });
  await engine.start();
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    async close() {
      await app.close();
      await engine.stop(1000);
      await store.close();
    },
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** Runs the worker shapes on a fresh database of `backend`. */
export async function benchWorkerShapes(backend: Backend): Promise<WorkerShapeResult[]> {
  const server = await startTestServer(backend);
  const pollServer = backend === 'postgres' ? await secondServer(server) : undefined;
  const results: WorkerShapeResult[] = [];
  try {
    const key = await createKey(server, 'worker');
    const pollUrl = pollServer?.url ?? server.url;
    await server.request('PUT', '/task-types/bench.work', { key, body: { lease_seconds: 60 } });
    const definition = { name: 'one worker step', steps: [{ id: 'work', type: 'bench.work' }] };
    const poll = (maxTasks: number, waitSeconds: number) =>
      sendRequest(pollUrl, 'POST', '/tasks/poll', {
        key,
        body: { worker_id: 'bench', types: ['bench.work'], wait_seconds: waitSeconds, max_tasks: maxTasks },
      });
    const complete = (id: string) =>
      sendRequest(pollUrl, 'POST', `/tasks/${id}/complete`, { key, body: { output: 1 } });

    const latencies: number[] = [];
    for (let round = 0; round < 60; round += 1) {
      const waiting = poll(1, 20).then((response) => ({ response, at: performance.now() }));
      // Let the poll reach its wait before the step is queued.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const started = performance.now();
      const start = await server.request('POST', '/executions', { body: { definition } });
      if (start.status !== 202) throw new Error(`start failed: ${start.text}`);
      const { response, at } = await waiting;
      const [task] = response.body.tasks;
      if (!task) throw new Error('the poll returned no task');
      if (round >= 10) latencies.push(at - started);
      await complete(task.id);
    }
    latencies.sort((a, b) => a - b);
    results.push({
      shape: `poll-to-start latency${pollServer ? ' (poll on another server)' : ''}`,
      count: latencies.length,
      totalMs: latencies.reduce((sum, value) => sum + value, 0),
      detail: `p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p95 ${percentile(latencies, 0.95).toFixed(1)} ms`,
    });

    const executions = 500;
    const adhoc = await Promise.all(
      Array.from({ length: executions }, () => server.request('POST', '/executions', { body: { definition } })),
    );
    if (adhoc.some((response) => response.status !== 202)) throw new Error('a start failed');
    let claimed = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (claimed < executions) {
          const { body } = await poll(25, 0.2);
          claimed += body.tasks.length;
          await Promise.all(body.tasks.map((task: { id: string }) => complete(task.id)));
        }
      }),
    );
    const elapsed = performance.now() - started;
    results.push({
      shape: '500 worker tasks, 4 loops (poll 25 + complete)',
      count: executions,
      totalMs: elapsed,
      detail: `${Math.round((executions / elapsed) * 1000)} tasks/s`,
    });
  } finally {
    await pollServer?.close();
    await server.close();
  }
  return results;
}
