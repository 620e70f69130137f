import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createTestDatabase, testBackends } from './helpers/backends.js';
import { ROOT, type ServeProcess, startServe } from './helpers/processes.js';
import { api, exitWithin, serveEnv } from './helpers/serve-restarts.js';

/**
 * Poison pills (issue 9, item 3): a step that takes its process down while it is the only step
 * running there fails after MAX_LOST_ATTEMPTS (5) such losses instead of wedging every restart.
 */

for (const backend of testBackends()) {
  describe(`poison pills (${backend})`, () => {
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
