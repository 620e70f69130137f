import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADHOC_WORKFLOW, QUEUE_STATES, UNMATCHED_ROUTE } from '../src/metrics/metrics.js';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, waitForExecution, waitUntil } from './helpers/http-fixtures.js';

/**
 * `GET /metrics` (docs/metrics.md): HTTP requests timed by method, route pattern and status;
 * executions timed by workflow and final status when they end; the queue depth at 0 on an idle
 * server; the executions running now. Histograms live for the whole process, so each test compares
 * two scrapes.
 */

/** Series of a Prometheus text exposition, keyed `name{label="value",…}` with labels sorted. */
function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match?.[1] || match[3] === undefined) continue;
    const labels = (match[2] ?? '').split(/,(?=\w+=")/).filter((label) => label !== '');
    series.set(`${match[1]}{${labels.sort().join(',')}}`, Number(match[3]));
  }
  return series;
}

function key(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
  return `${name}{${parts.sort().join(',')}}`;
}

for (const backend of testBackends()) {
  describe(`metrics histograms and gauges (${backend})`, () => {
    let server: TestServer;
    let text = '';
    const scrape = async () => {
      const response = await server.request('GET', '!/metrics', { key: null });
      assert.equal(response.status, 200, response.text);
      text = response.text;
      return parseMetrics(response.text);
    };
    const grew = (before: Map<string, number>, now: Map<string, number>, series: string) =>
      (now.get(series) ?? 0) - (before.get(series) ?? 0);

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 100 });
    });
    after(async () => {
      await server.close();
    });

    it('reports the queue depth of an idle server as 0, for every state', async () => {
      const metrics = await scrape();
      const depths = [...metrics].filter(([series]) => series.startsWith('weft_queue_depth{'));
      for (const state of QUEUE_STATES) {
        assert.ok(
          depths.some(([series]) => series.includes(`state="${state}"`)),
          `a weft_queue_depth series of state ${state}:\n${text}`,
        );
      }
      for (const [series, value] of depths) assert.equal(value, 0, series);
      assert.equal(metrics.get(key('weft_executions_running')), 0);
    });

    it('times requests by method, route pattern and status; unknown paths under one label', async () => {
      const id = await runAdhoc(server, { name: 'Timed', steps: [{ id: 'a', type: 'noop' }] });
      await waitForExecution(server, id, ['completed']);
      const before = await scrape();
      assert.equal((await server.request('GET', `/executions/${id}`)).status, 200);
      assert.equal((await server.request('GET', '/executions/exe_0000000000000000000000000')).status, 404);
      assert.equal((await server.request('POST', '/no-such-route/x1')).status, 404);
      assert.equal((await server.request('DELETE', '/executions')).status, 405);
      const now = await scrape();
      const count = (labels: Record<string, string>) => key('weft_http_request_duration_seconds_count', labels);
      const route = '/api/v1/executions/:id';
      assert.equal(grew(before, now, count({ method: 'GET', route, status: '200' })), 1);
      assert.equal(grew(before, now, count({ method: 'GET', route, status: '404' })), 1);
      assert.equal(grew(before, now, count({ method: 'POST', route: UNMATCHED_ROUTE, status: '404' })), 1);
      assert.equal(grew(before, now, count({ method: 'DELETE', route: UNMATCHED_ROUTE, status: '405' })), 1);
      // The scrape before this one is timed too, under its own route.
      assert.ok((now.get(count({ method: 'GET', route: '/metrics', status: '200' })) ?? 0) >= 1);
      const bucket = key('weft_http_request_duration_seconds_bucket', {
        method: 'GET',
        route,
        status: '200',
        le: '+Inf',
      });
      assert.equal(now.get(bucket), now.get(count({ method: 'GET', route, status: '200' })));
      // Never a raw URL: no series names an id or the unknown path.
      assert.equal(/weft_http_request_duration_seconds\w*\{[^}]*(exe_|no-such-route)/.test(text), false);
    });

    it('times executions when they end, by workflow id (adhoc for ad-hoc runs) and status', async () => {
      const workflow = await server.request('POST', '/workflows', {
        body: { name: 'Timed workflow', steps: [{ id: 'a', type: 'noop' }] },
      });
      assert.equal(workflow.status, 201, workflow.text);
      const before = await scrape();
      const completed = (await server.request('POST', `/workflows/${workflow.body.id}/executions`, { body: {} })).body
        .id as string;
      const failed = await runAdhoc(server, {
        name: 'Fails',
        steps: [{ id: 'bad', type: 'transform', input: { data: 1, expression: '$error("no")' } }],
      });
      const napping = await runAdhoc(server, {
        name: 'Naps',
        steps: [{ id: 'nap', type: 'delay', input: { seconds: 3600 } }],
      });
      await waitForExecution(server, completed, ['completed']);
      await waitForExecution(server, failed, ['failed']);
      await waitUntil(async () => (await scrape()).get(key('weft_executions_running')) === 1, 'the nap to run');
      assert.equal((await server.request('POST', `/executions/${napping}/cancel`)).status, 200);
      const count = (workflowLabel: string, status: string) =>
        key('weft_execution_duration_seconds_count', { workflow: workflowLabel, status });
      let now = new Map<string, number>();
      await waitUntil(async () => {
        now = await scrape();
        return grew(before, now, count(ADHOC_WORKFLOW, 'cancelled')) === 1;
      }, 'the cancelled execution to be timed');
      assert.equal(grew(before, now, count(workflow.body.id, 'completed')), 1);
      assert.equal(grew(before, now, count(ADHOC_WORKFLOW, 'failed')), 1);
      assert.equal(grew(before, now, count(ADHOC_WORKFLOW, 'cancelled')), 1);
      const sum = key('weft_execution_duration_seconds_sum', { workflow: ADHOC_WORKFLOW, status: 'cancelled' });
      assert.ok(grew(before, now, sum) > 0, 'the cancelled execution ran a while');
      assert.equal(now.get(key('weft_executions_running')), 0);
      // The drained step reads 0 instead of dropping out.
      assert.equal(now.get(key('weft_queue_depth', { type: 'delay', state: 'waiting' })), 0);
    });
  });
}
