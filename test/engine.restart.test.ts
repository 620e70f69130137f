import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { type ApiResponse, sendRequest } from './helpers/api-server.js';
import { createTestDatabase, type TestDatabase, testBackends } from './helpers/backends.js';
import { startFixtureServer, waitUntil } from './helpers/http-fixtures.js';
import { ROOT, type ServeProcess, startServe } from './helpers/processes.js';

/**
 * Restarts and crash loops (issue 9, items 3 and 20), with real `weft serve` processes killed
 * with SIGKILL: a restarted process takes back its earlier incarnation's steps at once instead of
 * waiting out their leases; losses in crashes of a whole busy process fail no step, however many;
 * a step that takes its process down while running alone fails after MAX_LOST_ATTEMPTS (5).
 */

const ADMIN_KEY = 'restart-test-admin-key-0123456789abcdef';

function api(url: string, method: string, route: string, body?: unknown): Promise<ApiResponse> {
  return sendRequest(url, method, route, { key: ADMIN_KEY, body });
}

/** Leases of 30 s (the default): a restart that waited them out would take the tests' whole budget. */
function serveEnv(database: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    WEFT_DATABASE_URL: database.config.databaseUrl,
    WEFT_DATA_DIR: database.config.dataDir,
    WEFT_ADMIN_KEY: ADMIN_KEY,
    WEFT_LEASE_MS: '30000',
    WEFT_POLL_INTERVAL_MS: '100',
    WEFT_LOG_LEVEL: 'warn',
    WEFT_NODE_ID: 'restart-node-a',
    ...extra,
  };
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

/** A server whose first `hold` requests never get an answer (until it closes); later ones are answered. */
async function startHangingServer(hold: number) {
  let calls = 0;
  const callTimes: number[] = [];
  const server = await startFixtureServer(async () => {
    calls += 1;
    callTimes.push(Date.now());
    if (calls <= hold) await new Promise(() => undefined);
    return { json: { ok: true } };
  });
  return { server, callTimes, calls: () => calls };
}

for (const backend of testBackends()) {
  describe(`restarts (${backend})`, () => {
    it('re-runs the step a killed process was running as soon as it restarts, without waiting for its lease', async () => {
      const database = await createTestDatabase(backend);
      const target = await startHangingServer(1);
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(serveEnv(database));
        const started = await api(serve.url, 'POST', '/executions', {
          definition: {
            name: 'held at the kill',
            steps: [{ id: 'call', type: 'http', input: { url: `${target.server.url}/slow`, timeout_seconds: 600 } }],
          },
        });
        assert.equal(started.status, 202, started.text);
        await waitUntil(() => target.calls() >= 1, 'the step to be running');
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        const restartedAt = Date.now();
        serve = await startServe(serveEnv(database));
        const url = serve.url;
        await waitUntil(() => target.calls() >= 2, 'the step to run again', 15_000);
        const waited = (target.callTimes[1] ?? 0) - restartedAt;
        // Its lease had 30 s to run; the restarted process knew it was dead.
        assert.ok(waited < 10_000, `the step ran again ${waited} ms after the restart`);
        await waitUntil(
          async () => (await api(url, 'GET', `/executions/${started.body.id}`)).body.status === 'completed',
          'the execution to complete',
        );
        const execution = (await api(url, 'GET', `/executions/${started.body.id}`)).body;
        assert.equal(execution.steps[0].status, 'completed');
        const timeline = (await api(url, 'GET', `/executions/${started.body.id}/timeline`)).body;
        const statuses = timeline.items.map((item: { status: string }) => item.status);
        assert.deepEqual(statuses.sort(), ['completed', 'lost']);
        const lost = timeline.items.find((item: { status: string }) => item.status === 'lost');
        assert.match(lost.error.message, /restarted/);
      } finally {
        await serve?.stop('SIGKILL');
        await target.server.close();
        await database.drop();
      }
    });

    it('never takes back the steps of another live process, even under the same node id', async () => {
      const database = await createTestDatabase(backend);
      const target = await startHangingServer(1);
      const processes: ServeProcess[] = [];
      try {
        const first = await startServe(serveEnv(database));
        processes.push(first);
        const started = await api(first.url, 'POST', '/executions', {
          definition: {
            name: 'held by a live process',
            steps: [{ id: 'call', type: 'http', input: { url: `${target.server.url}/slow`, timeout_seconds: 600 } }],
          },
        });
        await waitUntil(() => target.calls() >= 1, 'the step to be running');
        const second = await startServe(serveEnv(database));
        processes.push(second);
        // Give the second process time for its start and a few sweeps.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const step = (await api(second.url, 'GET', `/executions/${started.body.id}`)).body.steps[0];
        assert.equal(step.status, 'running');
        assert.equal(step.attempts, 1);
        assert.equal(target.calls(), 1, 'the step was not started again');
      } finally {
        for (const serve of processes) await serve.stop('SIGKILL');
        await target.server.close();
        await database.drop();
      }
    });

    it('fails no step when a busy process is killed again and again', async () => {
      const database = await createTestDatabase(backend);
      const recorder = await startFixtureServer(async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { json: { ok: true } };
      });
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(serveEnv(database));
        const workflow = await api(serve.url, 'POST', '/workflows', {
          name: 'busy chain',
          steps: [
            { id: 'a', type: 'http', input: { url: `${recorder.url}/a` } },
            { id: 'b', type: 'http', depends_on: ['a'], input: { url: `${recorder.url}/b` } },
          ],
        });
        assert.equal(workflow.status, 201, workflow.text);
        const ids: string[] = [];
        for (let index = 0; index < 300; index += 1) {
          ids.push((await api(serve.url, 'POST', `/workflows/${workflow.body.id}/executions`, {})).body.id);
        }
        // Ten kills, each 0.1 to 1.6 s after the restart before it: steps lost again and again.
        for (let kill = 0; kill < 10; kill += 1) {
          await new Promise((resolve) => setTimeout(resolve, 100 + ((kill * 347) % 1500)));
          assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
          serve = await startServe(serveEnv(database));
        }
        const url = serve.url;
        await waitUntil(
          async () => (await countByStatus(url, 'completed')) + (await countByStatus(url, 'failed')) === ids.length,
          'every execution to end',
          120_000,
        );
        assert.equal(await countByStatus(url, 'failed'), 0, 'no execution failed');
        assert.equal(await countByStatus(url, 'completed'), ids.length);
      } finally {
        await serve?.stop('SIGKILL');
        await recorder.close();
        await database.drop();
      }
    });

    it('fails a step that takes its process down while running alone, after 5 such losses', async () => {
      const database = await createTestDatabase(backend);
      const env = serveEnv(database, { WEFT_PLUGINS: path.join(ROOT, 'test/fixtures/crash-plugin.ts') });
      let survivor: ServeProcess | undefined;
      try {
        const first = await startServe(env);
        const started = await api(first.url, 'POST', '/executions', {
          definition: { name: 'poison pill', steps: [{ id: 'pill', type: 'test.crash' }] },
        });
        assert.equal(started.status, 202, started.text);
        assert.equal(await exitWithin(first, 15_000), 'SIGKILL', 'the pill killed the process');
        let kills = 1;
        while (kills <= 10) {
          let serve: ServeProcess;
          try {
            serve = await startServe(env);
          } catch (error) {
            // The pill can be claimed again before the process prints that it serves.
            if (!/exited with SIGKILL/.test(String(error))) throw error;
            kills += 1;
            continue;
          }
          if ((await exitWithin(serve, 5000)) === undefined) {
            survivor = serve;
            break;
          }
          kills += 1;
        }
        assert.ok(survivor, `the pill still kills its process after ${kills} runs`);
        // Its first run and five re-runs each killed the process; the sixth loss failed it.
        assert.equal(kills, 6);
        const execution = (await api(survivor.url, 'GET', `/executions/${started.body.id}`)).body;
        assert.equal(execution.status, 'failed');
        assert.match(execution.error.message, /lost 6 times while it was the only step of its process/);
        assert.equal(execution.steps[0].status, 'failed');
      } finally {
        await survivor?.stop('SIGKILL');
        await database.drop();
      }
    });
  });
}

/** Resolves with how `serve` exited (code or signal), or undefined when it still runs after `ms`. */
async function exitWithin(serve: ServeProcess, ms: number): Promise<number | string | undefined> {
  const { child } = serve;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode ?? undefined;
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    new Promise<number | string | undefined>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? signal ?? undefined)),
    ),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]);
  clearTimeout(timer);
  return result;
}
