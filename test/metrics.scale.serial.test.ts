import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { typicalHealthz } from './helpers/loop-latency.js';
import { assertSeededMetrics, seedBusyWorkflow } from './helpers/metrics-seed.js';

/**
 * On SQLite the metrics aggregates at 30,000 executions take about a second of CPU each (issue 9,
 * item 13). They run off the event loop, so while 10 different metrics questions are computed at
 * once `/healthz` keeps answering promptly, and every answer is still exact.
 */

describe('workflow metrics at 30,000 executions keep the loop free (sqlite)', () => {
  let server: TestServer;
  let workflowId: string;

  before(async () => {
    server = await startTestServer('sqlite');
    workflowId = await seedBusyWorkflow(server, 'metrics.scale.serial sqlite');
  });
  after(() => server.close());

  it('answers one call exactly', async () => {
    const started = performance.now();
    const response = await server.request('GET', `/workflows/${workflowId}/metrics`);
    console.log(`[metrics.scale.serial sqlite] one call: ${(performance.now() - started).toFixed(0)} ms`);
    assert.equal(response.status, 200, response.text);
    assertSeededMetrics(response.body);
  });

  it('keeps /healthz prompt while 10 different metrics questions are computed', async () => {
    // Ten different `since` values, all before every execution: ten computations, none shared.
    const paths = Array.from(
      { length: 10 },
      (_, index) => `/workflows/${workflowId}/metrics?since=2025-12-${String(index + 10)}T00:00:00Z`,
    );
    const started = performance.now();
    const calls = Promise.all(paths.map((path) => server.request('GET', path)));
    const healthz = await typicalHealthz(server, calls);
    const responses = await calls;
    console.log(
      `[metrics.scale.serial sqlite] 10 parallel calls: ${(performance.now() - started).toFixed(0)} ms; /healthz answered ${healthz.count} times, p90 ${healthz.p90.toFixed(0)} ms, worst ${healthz.worst.toFixed(0)} ms (bound ${healthz.bound.toFixed(0)} ms)`,
    );
    for (const response of responses) {
      assert.equal(response.status, 200, response.text);
      assertSeededMetrics(response.body);
    }
    assert.ok(
      healthz.p90 < healthz.bound,
      `/healthz p90 ${healthz.p90.toFixed(0)} ms, over ${healthz.bound.toFixed(0)} ms`,
    );
  });
});
