import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestDatabase, testBackends } from './helpers/backends.js';
import { startFixtureServer, waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe } from './helpers/processes.js';
import { api, countByStatus, inBatches, serveEnv } from './helpers/serve-restarts.js';

/**
 * Crash loops (issue 9, item 3): a busy process killed again and again, 0.1 to 1.6 s after each
 * restart, fails none of the steps it loses (a crash of everything is nobody's fault).
 */

for (const backend of testBackends()) {
  describe(`crash loops (${backend})`, () => {
    it('fails no step when a busy process is killed again and again', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
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
        // Started 20 at a time: one by one, the process finished them as fast as they came, and
        // every kill then landed on an idle process.
        const url0 = serve.url;
        const ids = await inBatches(Array.from({ length: 300 }), 20, async () => {
          const started = await api(url0, 'POST', `/workflows/${workflow.body.id}/executions`, {});
          assert.equal(started.status, 202, started.text);
          return started.body.id as string;
        });
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
  });
}
