import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createTestDatabase, testBackends } from './helpers/backends.js';
import { ROOT, type ServeProcess, startServe } from './helpers/processes.js';
import { api, exitWithin, serveEnv } from './helpers/serve-restarts.js';

/**
 * Poison pills (issue 9, item 3): a step that takes its process down while it is the only step
 * running there fails after MAX_LOST_ATTEMPTS (5) such losses instead of wedging every restart; so
 * does an item of a `for_each` step.
 */

/** The pill: a plain JavaScript plugin, so that each of the dozen processes starts without tsx. */
const CRASH_PLUGIN = path.join(ROOT, 'test/fixtures/crash-plugin.mjs');
/**
 * How long a process must stay up once the execution shows as ended to count as the survivor:
 * 20 sweeps (WEFT_POLL_INTERVAL_MS is 100 in these tests) in which the pill could be claimed again.
 */
const SURVIVAL_MS = 2000;
/** Bound on waiting for a restarted process to die or to show the execution ended. */
const SETTLE_MS = 15_000;

/**
 * Whether `serve` survives the pill: it is still up SURVIVAL_MS after the execution shows as
 * ended. Resolves false as soon as the process dies; true if it is still up after SETTLE_MS
 * without the execution ending (the assertions that follow then say what it shows).
 */
async function survives(serve: ServeProcess, executionId: string): Promise<boolean> {
  const deadline = Date.now() + SETTLE_MS;
  while (Date.now() < deadline) {
    const status = await api(serve.url, 'GET', `/executions/${executionId}`).then(
      (response) => response.body?.status as string | undefined,
      () => undefined, // a process dying under the request
    );
    if (status === 'failed' || status === 'completed') return (await exitWithin(serve, SURVIVAL_MS)) === undefined;
    if ((await exitWithin(serve, 50)) !== undefined) return false;
  }
  return (await exitWithin(serve, 0)) === undefined;
}

/**
 * Starts processes on `env` one after the other, after the first was killed by the pill, until
 * one survives; returns it and how many processes the pill killed, the first included.
 */
async function restartUntilSurvivor(
  env: Record<string, string>,
  executionId: string,
): Promise<{ survivor: ServeProcess | undefined; kills: number }> {
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
    if (await survives(serve, executionId)) return { survivor: serve, kills };
    await serve.stop('SIGKILL');
    kills += 1;
  }
  return { survivor: undefined, kills };
}

for (const backend of testBackends()) {
  describe(`poison pills (${backend})`, () => {
    it('fails a step that takes its process down while running alone, after 5 such losses', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      const env = serveEnv(database, { WEFT_PLUGINS: CRASH_PLUGIN });
      let survivor: ServeProcess | undefined;
      try {
        const first = await startServe(env);
        const started = await api(first.url, 'POST', '/executions', {
          definition: { name: 'poison pill', steps: [{ id: 'pill', type: 'test.crash' }] },
        });
        assert.equal(started.status, 202, started.text);
        assert.equal(await exitWithin(first, 15_000), 'SIGKILL', 'the pill killed the process');
        const restarts = await restartUntilSurvivor(env, started.body.id);
        survivor = restarts.survivor;
        const kills = restarts.kills;
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
    it('fails a for_each item that takes its process down while running alone, after 5 such losses', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      const env = serveEnv(database, { WEFT_PLUGINS: CRASH_PLUGIN });
      let survivor: ServeProcess | undefined;
      try {
        const first = await startServe(env);
        const started = await api(first.url, 'POST', '/executions', {
          definition: {
            name: 'poison item',
            steps: [{ id: 'pill', type: 'test.crash', for_each: [1], concurrency: 1, retry: { max_attempts: 3 } }],
          },
        });
        assert.equal(started.status, 202, started.text);
        assert.equal(await exitWithin(first, 15_000), 'SIGKILL', 'the pill killed the process');
        const restarts = await restartUntilSurvivor(env, started.body.id);
        survivor = restarts.survivor;
        const kills = restarts.kills;
        assert.ok(survivor, `the pill still kills its process after ${kills} runs`);
        // Its first run and five re-runs each killed the process; the sixth loss failed it.
        assert.equal(kills, 6);
        const execution = (await api(survivor.url, 'GET', `/executions/${started.body.id}`)).body;
        assert.equal(execution.status, 'failed');
        // The item failed without using its retries (a loss is not a retryable failure), and so its step.
        assert.match(
          execution.error.message,
          /1 of 1 items failed \(first: item 0: .*while running item 0 only \(6 of 5/,
        );
        assert.equal(execution.steps[0].status, 'failed');
        const items = (await api(survivor.url, 'GET', `/executions/${started.body.id}/steps/pill/items`)).body;
        assert.equal(items.items[0].status, 'failed');
        assert.equal(items.items[0].attempts, 6);
        const timeline = (await api(survivor.url, 'GET', `/executions/${started.body.id}/timeline`)).body;
        const lost = timeline.items.filter((entry: { index: number | null; status: string }) => entry.index === 0);
        assert.deepEqual(
          lost.map((entry: { status: string }) => entry.status),
          ['lost', 'lost', 'lost', 'lost', 'lost', 'failed'],
        );
      } finally {
        await survivor?.stop('SIGKILL');
        await database.drop();
      }
    });
  });
}
