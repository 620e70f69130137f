import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ApiResponse, sendRequest } from './helpers/api-server.js';
import { createTestDatabase, postgresOnly, type TestDatabase, testBackends } from './helpers/backends.js';
import { type FixtureServer, startFixtureServer, waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe, startServes } from './helpers/processes.js';
import { inBatches } from './helpers/serve-restarts.js';

/**
 * Durability with real processes: `weft serve` children are SIGKILLed mid-run; the executions
 * they held finish elsewhere or after a restart, no completed step runs again, timers still fire.
 */

const ADMIN_KEY = 'crash-test-admin-key-0123456789abcdef';

/** A recorder: every step invocation is a POST naming its execution and step. */
async function startRecorder(delayMs: number) {
  const invocations = new Map<string, number>();
  const server = await startFixtureServer(async ({ body }) => {
    const { execution, step } = body as { execution: string; step: string };
    const key = `${execution}/${step}`;
    invocations.set(key, (invocations.get(key) ?? 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    return { json: { step, ok: true } };
  });
  return { server, invocations };
}

function chainDefinition(recorder: FixtureServer, steps: number, name: string) {
  return {
    name,
    steps: Array.from({ length: steps }, (_, index) => ({
      id: `s${index}`,
      type: 'http',
      input: {
        url: `${recorder.url}/record`,
        method: 'POST',
        body: { execution: '{{ execution.id }}', step: `s${index}` },
      },
      ...(index > 0 ? { depends_on: [`s${index - 1}`] } : {}),
    })),
  };
}

function api(url: string, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  return sendRequest(url, method, path, { key: ADMIN_KEY, body });
}

async function countByStatus(url: string, status: string): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const page: ApiResponse = await api(
      url,
      'GET',
      `/executions?status=${status}&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
    );
    count += page.body.items.length;
    cursor = page.body.next_cursor;
  } while (cursor);
  return count;
}

/**
 * The default durability, not the tests' faster one (helpers/processes.ts): without a disk flush
 * per commit, the 40 chains of the crash test all finished before its kill.
 */
const DEFAULT_DURABILITY = { WEFT_SQLITE_SYNCHRONOUS: 'FULL', WEFT_PG_SYNCHRONOUS_COMMIT: 'on' };

function serveEnv(database: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...extra,
    WEFT_DATABASE_URL: database.config.databaseUrl,
    WEFT_DATA_DIR: database.config.dataDir,
    WEFT_ADMIN_KEY: ADMIN_KEY,
    WEFT_LEASE_MS: '1500',
    WEFT_POLL_INTERVAL_MS: '100',
    WEFT_LOG_LEVEL: 'warn',
  };
}

/** Checks that every step ran exactly as often as Weft counted its attempts. */
async function assertNoCompletedStepRanTwice(url: string, ids: string[], invocations: Map<string, number>) {
  let lost = 0;
  const executions = await inBatches(ids, 20, async (id) => (await api(url, 'GET', `/executions/${id}`)).body);
  for (const [index, id] of ids.entries()) {
    const execution = executions[index];
    assert.equal(execution.status, 'completed', `${id}: ${JSON.stringify(execution.error)}`);
    for (const step of execution.steps as Array<{ step_id: string; type: string; attempts: number }>) {
      if (step.type !== 'http') continue;
      const ran = invocations.get(`${id}/${step.step_id}`) ?? 0;
      assert.ok(ran <= step.attempts, `${id}/${step.step_id} ran ${ran} times in ${step.attempts} attempts`);
      assert.ok(ran >= 1, `${id}/${step.step_id} never ran`);
      if (step.attempts > 1) lost += 1;
    }
  }
  return lost;
}

for (const backend of testBackends()) {
  describe(`crash recovery (${backend})`, () => {
    it('finishes every execution after kill -9 and a restart; completed steps never run again; timers fire', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      const recorder = await startRecorder(250);
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(serveEnv(database, DEFAULT_DURABILITY));
        const workflow = await api(serve.url, 'POST', '/workflows', chainDefinition(recorder.server, 4, 'crash chain'));
        const timer = await api(serve.url, 'POST', '/workflows', {
          name: 'timer',
          steps: [
            // Long enough to outlast 40 starts and the wait for their first steps on a loaded CI machine.
            { id: 'wait', type: 'delay', input: { seconds: 15 } },
            { id: 'after', type: 'noop', depends_on: ['wait'] },
          ],
        });
        // A timer set before the chains start: its step waits in the database when the process dies.
        const timerExecution = (await api(serve.url, 'POST', `/workflows/${timer.body.id}/executions`, {})).body
          .id as string;
        const url0 = serve.url;
        await waitUntil(
          async () => (await api(url0, 'GET', `/executions/${timerExecution}`)).body.steps[0].status === 'waiting',
          'the timer to be set',
        );
        const ids: string[] = [];
        for (let index = 0; index < 40; index += 1) {
          ids.push((await api(serve.url, 'POST', `/workflows/${workflow.body.id}/executions`, {})).body.id);
        }
        // Each call takes 250 ms, so a chain of four needs a second: the kill lands with work in flight.
        await waitUntil(() => recorder.invocations.size >= 40, 'some steps to run before the kill');
        const timerBeforeKill = (await api(serve.url, 'GET', `/executions/${timerExecution}`)).body;
        assert.equal(timerBeforeKill.status, 'running', 'the timer is still set when the process dies');
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        const killedAt = Date.now();
        const ranBeforeKill = recorder.invocations.size;
        assert.ok(ranBeforeKill < ids.length * 4, 'the kill came mid-way');

        serve = await startServe(serveEnv(database, DEFAULT_DURABILITY));
        const url = serve.url;
        await waitUntil(
          async () => (await countByStatus(url, 'completed')) === ids.length + 1,
          'every execution to complete',
          60_000,
        );
        await assertNoCompletedStepRanTwice(url, ids, recorder.invocations);
        const timed = (await api(url, 'GET', `/executions/${timerExecution}`)).body;
        assert.equal(timed.status, 'completed');
        assert.ok(
          new Date(timed.completed_at).getTime() >= killedAt,
          'the timer set before the kill fired after the restart',
        );
        assert.equal(await countByStatus(url, 'running'), 0, 'nothing stays stuck in running');
      } finally {
        await serve?.stop('SIGKILL');
        await recorder.server.close();
        await database.drop();
      }
    });
  });

  describe(`scale-out (${backend})`, () => {
    it(
      'shares 300 executions between three processes, and survives one being killed',
      postgresOnly(backend, 'several processes share PostgreSQL'),
      async () => {
        const database = await createTestDatabase(backend, { migrated: true });
        const recorder = await startRecorder(5);
        const processes: ServeProcess[] = [];
        try {
          processes.push(
            ...(await startServes(
              database,
              [1, 2, 3].map(() => serveEnv(database)),
            )),
          );
          const [first, second, third] = processes as [ServeProcess, ServeProcess, ServeProcess];
          const workflow = await api(
            first.url,
            'POST',
            '/workflows',
            chainDefinition(recorder.server, 3, 'shared chain'),
          );
          // Starts arrive at all three processes, as behind a load balancer, 30 at a time.
          const ids = await inBatches(Array.from({ length: 300 }), 30, async (_, index) => {
            const target = processes[index % 3] as ServeProcess;
            const started = await api(target.url, 'POST', `/workflows/${workflow.body.id}/executions`, {});
            assert.equal(started.status, 202, started.text);
            return started.body.id as string;
          });
          await waitUntil(() => recorder.invocations.size >= 150, 'a third of the work to be done');
          const victimPid = String(third.child.pid);
          assert.equal(await third.stop('SIGKILL'), 'SIGKILL');
          await waitUntil(
            async () => (await countByStatus(first.url, 'completed')) === ids.length,
            'every execution to complete',
            90_000,
          );
          await assertNoCompletedStepRanTwice(second.url, ids, recorder.invocations);
          const workers = new Set<string>();
          const timelines = await inBatches(
            ids,
            20,
            async (id) => (await api(first.url, 'GET', `/executions/${id}/timeline`)).body,
          );
          for (const timeline of timelines) {
            for (const item of timeline.items)
              if (item.status === 'completed') workers.add(String(item.worker).split(':')[2] ?? ''); // engine:<host>:<pid>:<hex>
          }
          const pids = processes.map((serve) => String(serve.child.pid));
          for (const pid of pids)
            assert.ok(workers.has(pid), `process ${pid} completed some steps (workers: ${[...workers].join(', ')})`);
          assert.ok(workers.has(victimPid));
        } finally {
          for (const serve of processes) await serve.stop('SIGKILL');
          await recorder.server.close();
          await database.drop();
        }
      },
    );
  });
}
