import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isLoopbackHost, metricsExposureWarning } from '../src/api/stats-routes.js';
import {
  OTHER_TASK_TYPE,
  recordCommittedLog,
  recordWebhookDelivery,
  TASK_TYPE_LABEL_LIMIT,
} from '../src/metrics/metrics.js';
import { assertProblem, createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, waitForExecution, waitUntil } from './helpers/http-fixtures.js';
import { type MixPlan, mixedDefinition, runMix } from './helpers/metrics-fixtures.js';
import { openStream } from './helpers/stream-client.js';

/**
 * Prometheus `GET /metrics`: counters of what this process committed, the step duration
 * histogram, the queue depth read at scrape time, webhook outcomes, lease expiries and open
 * streams. Counters live for the whole process, so each test compares two scrapes; the expected
 * differences come from the executions' event logs and timelines.
 */

const PLAN: MixPlan = { completed: 3, failed: 2, pending: 1, startedLater: 1, cancelled: 1 };

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

/** The key of a series in `parseMetrics`' map. */
function key(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
  return `${name}{${parts.sort().join(',')}}`;
}

for (const backend of testBackends()) {
  describe(`prometheus metrics (${backend})`, () => {
    let server: TestServer;

    const scrape = async () => {
      const response = await server.request('GET', '!/metrics', { key: null });
      assert.equal(response.status, 200, response.text);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return parseMetrics(response.text);
    };
    /** Scrapes until every expected series grew by its amount since `before` (counting follows the commit). */
    const expectGrowth = async (before: Map<string, number>, growth: Map<string, number>) => {
      let last = new Map<string, number>();
      const delta = (series: string) => (last.get(series) ?? 0) - (before.get(series) ?? 0);
      await waitUntil(async () => {
        last = await scrape();
        return [...growth].every(([series, amount]) => delta(series) >= amount);
      }, 'the counters to catch up').catch(() => undefined);
      for (const [series, amount] of growth) assert.equal(delta(series), amount, series);
    };

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 100 });
    });
    after(async () => {
      await server.close();
    });

    it('counts started and finished executions and step durations by type and outcome', async () => {
      const workflow = await server.request('POST', '/workflows', { body: mixedDefinition('Counted') });
      const before = await scrape();
      const ids = await runMix(server, workflow.body.id, PLAN);

      const events: Array<{ type: string }> = [];
      const attempts: Array<{ type: string; status: string }> = [];
      for (const id of ids) {
        events.push(...(await server.request('GET', `/executions/${id}/events?limit=200`)).body.items);
        attempts.push(...(await server.request('GET', `/executions/${id}/timeline`)).body.items);
      }
      const count = (type: string) => events.filter((event) => event.type === type).length;
      assert.equal(count('workflow.started'), PLAN.completed + PLAN.failed + PLAN.startedLater);
      const growth = new Map([
        [key('weft_executions_started_total'), count('workflow.started')],
        [key('weft_executions_finished_total', { status: 'completed' }), count('workflow.completed')],
        [key('weft_executions_finished_total', { status: 'failed' }), count('workflow.failed')],
        [key('weft_executions_finished_total', { status: 'cancelled' }), count('workflow.cancelled')],
      ]);
      for (const attempt of attempts) {
        const series = key('weft_step_duration_seconds_count', { type: attempt.type, outcome: attempt.status });
        growth.set(series, (growth.get(series) ?? 0) + 1);
      }
      assert.equal(growth.get(key('weft_step_duration_seconds_count', { type: 'transform', outcome: 'failed' })), 2);
      await expectGrowth(before, growth);

      const after = await scrape();
      const bucket = key('weft_step_duration_seconds_bucket', { type: 'noop', outcome: 'completed', le: '+Inf' });
      const noopCount = key('weft_step_duration_seconds_count', { type: 'noop', outcome: 'completed' });
      assert.equal(after.get(bucket), after.get(noopCount), 'the +Inf bucket holds every observation');
      assert.ok((after.get(key('process_resident_memory_bytes')) ?? 0) > 0, 'process metrics are there');
    });

    it('reads the queue depth when scraped: ready steps waiting for a worker, durable timers', async () => {
      const worker = await createKey(server, 'worker');
      const declared = await server.request('PUT', '/task-types/metrics.queued', { key: worker, body: {} });
      assert.ok([200, 201].includes(declared.status), declared.text);
      const queued = await runAdhoc(server, {
        name: 'Waits for a worker',
        steps: [{ id: 'external', type: 'metrics.queued', input: {} }],
      });
      const timer = await runAdhoc(server, {
        name: 'Waits on a timer',
        steps: [{ id: 'nap', type: 'delay', input: { seconds: 3600 } }],
      });
      const ready = key('weft_queue_depth', { type: 'metrics.queued', state: 'ready' });
      const waiting = key('weft_queue_depth', { type: 'delay', state: 'waiting' });
      await waitUntil(async () => (await scrape()).get(waiting) === 1, 'the timer step to wait');
      const during = await scrape();
      assert.equal(during.get(ready), 1);
      assert.equal(during.get(waiting), 1);

      for (const id of [queued, timer]) {
        assert.equal((await server.request('POST', `/executions/${id}/cancel`)).status, 200);
      }
      const afterCancel = await scrape();
      assert.equal(afterCancel.get(ready), 0, 'a drained queue reads 0');
      assert.equal(afterCancel.get(waiting), 0);
    });

    it('counts expired worker leases, webhook delivery outcomes and open streams', async () => {
      const worker = await createKey(server, 'worker');
      await server.request('PUT', '/task-types/metrics.lease', { key: worker, body: { lease_seconds: 1 } });
      const before = await scrape();
      const id = await runAdhoc(server, {
        name: 'Worker goes silent',
        steps: [{ id: 'silent', type: 'metrics.lease', input: {} }],
      });
      const polled = await server.request('POST', '/tasks/poll', {
        key: worker,
        body: { worker_id: 'silent-worker', types: ['metrics.lease'], wait_seconds: 5 },
      });
      assert.equal(polled.body.tasks.length, 1, polled.text);
      // No heartbeat: the lease expires after 1 s and the sweep fails the attempt.
      await waitForExecution(server, id, ['failed'], 15_000);

      recordWebhookDelivery('failed');
      recordWebhookDelivery('failed');
      recordWebhookDelivery('delivered');
      recordWebhookDelivery('abandoned');
      const stream = await openStream(server.url, '/stream', server.adminKey);
      await stream.waitFor((message) => message.type === 'stream.snapshot', 'the snapshot');
      await expectGrowth(
        before,
        new Map([
          [key('weft_lease_expiries_total', { holder: 'worker' }), 1],
          [key('weft_lease_expiries_total', { holder: 'engine' }), 0],
          [key('weft_webhook_deliveries_total', { outcome: 'failed' }), 2],
          [key('weft_webhook_deliveries_total', { outcome: 'delivered' }), 1],
          [key('weft_webhook_deliveries_total', { outcome: 'abandoned' }), 1],
          [key('weft_stream_connections'), 1],
        ]),
      );
      await stream.close();
      await waitUntil(
        async () => (await scrape()).get(key('weft_stream_connections')) === before.get(key('weft_stream_connections')),
        'the stream gauge to drop back',
      );
    });

    it('asks for WEFT_METRICS_TOKEN when one is set', async () => {
      const token = 'metrics-scrape-token-0123456789';
      const guarded = await startTestServer(backend, { metricsToken: token });
      try {
        assertProblem(await guarded.request('GET', '!/metrics', { key: null }), 401, 'UNAUTHORIZED');
        assertProblem(await guarded.request('GET', '!/metrics', { key: 'wrong-token' }), 401, 'UNAUTHORIZED');
        assertProblem(await guarded.request('GET', '!/metrics'), 401, 'UNAUTHORIZED');
        const allowed = await guarded.request('GET', '!/metrics', { key: token });
        assert.equal(allowed.status, 200);
        assert.match(allowed.text, /^# HELP weft_executions_started_total /m);
      } finally {
        await guarded.close();
      }
    });

    it('names at most 100 task types in its series, the rest as other', async () => {
      const before = await scrape();
      const started = '2026-01-01T00:00:00.000Z';
      const ended = '2026-01-01T00:00:00.250Z';
      const types = Array.from({ length: 150 }, (_, index) => `tenant.type-${backend}-${index}`);
      recordCommittedLog({
        events: [],
        attempts: types.map((type) => ({ type, status: 'completed', started_at: started, ended_at: ended })),
      } as unknown as Parameters<typeof recordCommittedLog>[0]);
      const after = await scrape();
      const named = new Set<string>();
      for (const series of after.keys()) {
        const match = /^weft_step_duration_seconds_count\{.*type="([^"]*)"/.exec(series);
        if (match?.[1] && match[1] !== OTHER_TASK_TYPE) named.add(match[1]);
      }
      assert.ok(named.size <= TASK_TYPE_LABEL_LIMIT, `${named.size} task types named`);
      const counted = (metrics: Map<string, number>, type: string) =>
        metrics.get(key('weft_step_duration_seconds_count', { type, outcome: 'completed' })) ?? 0;
      const namedNow = types.filter((type) => counted(after, type) === 1).length;
      const other = counted(after, OTHER_TASK_TYPE) - counted(before, OTHER_TASK_TYPE);
      assert.ok(other >= 50, `${other} attempts counted as other`);
      assert.equal(namedNow + other, 150, 'every attempt is counted, under its name or as other');
    });
  });

  describe(`metrics exposure (${backend})`, () => {
    it('warns when /metrics is open beyond loopback, and only then', () => {
      for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
        assert.equal(isLoopbackHost(host), true, host);
        assert.equal(metricsExposureWarning({ host, metricsToken: undefined }), undefined, host);
      }
      for (const host of ['0.0.0.0', '::', '10.1.2.3', '192.168.0.5', 'weft.example.com']) {
        assert.equal(isLoopbackHost(host), false, host);
        assert.match(metricsExposureWarning({ host, metricsToken: undefined }) ?? '', /set WEFT_METRICS_TOKEN/, host);
        assert.equal(metricsExposureWarning({ host, metricsToken: 'a-scrape-token' }), undefined, host);
      }
    });
  });
}
