import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendRequest, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { assertSeededMetrics, SEEDED_EXECUTIONS, seedBusyWorkflow } from './helpers/metrics-seed.js';

/**
 * `GET /workflows/{id}/metrics` stays cheap on a workflow with 30,000 executions: the answer
 * matches the seeded counts and durations, and 10 parallel calls finish while `/healthz` keeps
 * answering. The bounds are generous (a shared 2-core machine); the figures are printed.
 */

for (const backend of testBackends()) {
  describe(`workflow metrics at 30,000 executions (${backend})`, () => {
    let server: TestServer;
    let workflowId: string;

    before(async () => {
      server = await startTestServer(backend);
      workflowId = await seedBusyWorkflow(server, `metrics.scale ${backend}`);
    });
    after(() => server.close());

    it('answers the seeded counts, durations and per-step attempts', async () => {
      const started = performance.now();
      const response = await server.request('GET', `/workflows/${workflowId}/metrics`);
      const elapsed = performance.now() - started;
      console.log(`[metrics.scale ${backend}] one call: ${elapsed.toFixed(1)} ms`);
      assert.equal(response.status, 200, response.text);
      assertSeededMetrics(response.body);
    });

    it('answers 10 parallel calls exactly while /healthz keeps answering', async () => {
      const started = performance.now();
      // A question not asked before (every execution is after this `since`), so nothing is reused.
      const path = `/workflows/${workflowId}/metrics?since=2025-12-31T00:00:00Z`;
      const calls = Promise.all(Array.from({ length: 10 }, () => server.request('GET', path)));
      const healthz: number[] = [];
      let done = false;
      const probing = (async () => {
        while (!done) {
          const sent = performance.now();
          const answer = await sendRequest(server.url, 'GET', '!/healthz');
          assert.equal(answer.status, 200);
          healthz.push(performance.now() - sent);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const responses = await calls;
      const elapsed = performance.now() - started;
      done = true;
      await probing;
      for (const response of responses) {
        assert.equal(response.status, 200, response.text);
        assert.equal(response.body.executions.total, SEEDED_EXECUTIONS);
      }
      const worst = Math.max(...healthz);
      console.log(
        `[metrics.scale ${backend}] 10 parallel calls: ${elapsed.toFixed(0)} ms; /healthz answered ${healthz.length} times, worst ${worst.toFixed(0)} ms`,
      );
      // Times are reported, not asserted: with four test files on two cores they measure the
      // neighbours. The loop's responsiveness is asserted alone, in metrics.scale.serial.test.ts.
      assert.ok(healthz.length >= 1, '/healthz answered while the calls ran');
    });
  });
}
