import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestDatabase, testBackends } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe } from './helpers/processes.js';
import { api, serveEnv, startHangingServer } from './helpers/serve-restarts.js';

/**
 * Restarts (issue 9, item 20), with real `weft serve` processes killed with SIGKILL: a restarted
 * process takes back its earlier incarnation's steps at once instead of waiting out their 30 s
 * leases, and never takes back the steps of a live process.
 */

for (const backend of testBackends()) {
  describe(`restarts (${backend})`, () => {
    it('re-runs the step a killed process was running as soon as it restarts, without waiting for its lease', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
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
        const killedAt = Date.now();
        serve = await startServe(serveEnv(database));
        const url = serve.url;
        const servingAt = Date.now();
        await waitUntil(() => target.calls() >= 2, 'the step to run again', 40_000);
        // Its lease had 30 s to run; the restarted process knew it was dead and re-ran the step
        // before or just after it began serving (its start is slow on a loaded machine).
        const rerunAt = target.callTimes[1] ?? Number.POSITIVE_INFINITY;
        assert.ok(
          rerunAt - servingAt < 5000 && rerunAt - killedAt < 25_000,
          `the step ran again ${rerunAt - killedAt} ms after the kill, ${rerunAt - servingAt} ms after the restart served`,
        );
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
      const database = await createTestDatabase(backend, { migrated: true });
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
  });
}
