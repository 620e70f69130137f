import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import {
  type FixtureServer,
  runAdhoc,
  startFixtureServer,
  stepOf,
  waitForExecution,
  waitUntil,
} from './helpers/http-fixtures.js';

/**
 * What the execution views tell: progress in the list as exact as for one execution, and a
 * timeline with one row per attempt, also for the attempt that was running when its execution
 * failed or was cancelled.
 */

interface TimelineItem {
  step_id: string;
  attempt: number;
  status: string;
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  worker: string | null;
  error: { message: string } | null;
}

/**
 * A loopback server answering each `/flaky-…` path 500 twice, then holding every request until the test
 * answers it (`answer(path, status)`, or `release()` for all).
 */
async function holdingServer() {
  const held: Array<{ path: string; resolve: (reply: { status: number; json: unknown }) => void }> = [];
  const answered = new Map<string, number>();
  const server = await startFixtureServer(({ path }) => {
    const count = (answered.get(path) ?? 0) + 1;
    answered.set(path, count);
    if (path.startsWith('/flaky') && count <= 2) return { status: 500, text: 'not yet' };
    return new Promise((resolve) => held.push({ path, resolve }));
  });
  const answer = (path: string | undefined, status: number) => {
    for (const entry of [...held]) {
      if (path !== undefined && entry.path !== path) continue;
      held.splice(held.indexOf(entry), 1);
      entry.resolve({ status, json: {} });
    }
  };
  return {
    server,
    answer,
    release: () => answer(undefined, 200),
    requestsTo: (path: string) => server.requests.filter((request) => request.path === path).length,
  };
}

for (const backend of testBackends()) {
  describe(`execution views (${backend})`, () => {
    let server: TestServer;
    let fixture: Awaited<ReturnType<typeof holdingServer>>;
    let upstream: FixtureServer;
    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      fixture = await holdingServer();
      upstream = fixture.server;
    });
    after(async () => {
      fixture.release();
      await upstream.close();
      await server.close();
    });

    const timelineOf = async (id: string): Promise<TimelineItem[]> => {
      const response = await server.request('GET', `/executions/${id}/timeline`);
      assert.equal(response.status, 200, response.text);
      return response.body.items;
    };

    /** A step that fails twice against the loopback server and is running its third attempt. */
    const flakyStep = (path: string) => ({
      id: 'flaky',
      type: 'http',
      input: { url: `${upstream.url}${path}` },
      retry: { max_attempts: 5, delay_ms: 10 },
    });
    const thirdAttemptRunning = async (path: string) => {
      await waitUntil(() => fixture.requestsTo(path) >= 3, 'the third attempt of flaky to be under way');
    };

    /** The flaky step's last attempt was cancelled, and the timeline shows each of its attempts. */
    const assertCancelledThirdAttempt = async (id: string) => {
      const execution = (await server.request('GET', `/executions/${id}`)).body;
      const step = stepOf(execution, 'flaky');
      assert.equal(step.status, 'cancelled');
      const rows = (await timelineOf(id)).filter((item) => item.step_id === 'flaky');
      assert.equal(rows.length, step.attempts, JSON.stringify(rows));
      assert.deepEqual(
        rows.map((row) => [row.attempt, row.status]),
        [
          [1, 'failed'],
          [2, 'failed'],
          [3, 'cancelled'],
        ],
      );
      const last = rows[2];
      assert.ok(last?.started_at && last.ended_at, JSON.stringify(last));
      assert.ok(last.ended_at >= last.started_at);
      assert.equal(typeof last.duration_ms, 'number');
      assert.equal(last.ended_at, execution.completed_at, 'the attempt ended when its execution did');
      assert.match(last.error?.message ?? '', /cancelled/);
    };

    it('lists executions with the same progress as their status shows', async () => {
      const done = await runAdhoc(server, {
        name: 'all done',
        steps: [
          { id: 'a', type: 'noop' },
          { id: 'b', type: 'noop', depends_on: ['a'] },
        ],
      });
      const mixed = await runAdhoc(server, {
        name: 'mixed',
        stop_on_failure: false,
        steps: [
          { id: 'ok', type: 'noop' },
          { id: 'bad', type: 'transform', input: { expression: '$error("no")' } },
          { id: 'after_bad', type: 'noop', depends_on: ['bad'] },
        ],
      });
      const running = await runAdhoc(server, {
        name: 'still running',
        steps: [
          { id: 'first', type: 'noop' },
          { id: 'held', type: 'http', input: { url: `${upstream.url}/hold` }, depends_on: ['first'] },
        ],
      });
      await waitForExecution(server, done, ['completed']);
      await waitForExecution(server, mixed, ['failed']);
      await waitUntil(() => fixture.requestsTo('/hold') >= 1, 'the held step to run');

      const list = await server.request('GET', '/executions?limit=50');
      assert.equal(list.status, 200, list.text);
      const listed = new Map(list.body.items.map((item: { id: string }) => [item.id, item]));
      for (const id of [done, mixed, running]) {
        const status = await server.request('GET', `/executions/${id}/status`);
        assert.deepEqual((listed.get(id) as { progress: unknown }).progress, status.body.progress, id);
      }
      const progress = (id: string) => (listed.get(id) as { progress: Record<string, unknown> }).progress;
      assert.deepEqual(progress(done), { total: 2, completed: 2, failed: 0, skipped: 0, running: [], percent: 100 });
      assert.deepEqual(progress(mixed), { total: 3, completed: 1, failed: 1, skipped: 1, running: [], percent: 100 });
      assert.deepEqual(progress(running), {
        total: 2,
        completed: 1,
        failed: 0,
        skipped: 0,
        running: ['held'],
        percent: 50,
      });
      fixture.release();
      await waitForExecution(server, running, ['completed']);
    });

    it('keeps the running attempt in the timeline when another step fails the execution', async () => {
      const id = await runAdhoc(server, {
        name: 'fails while flaky runs',
        steps: [
          flakyStep('/flaky-fail'),
          { id: 'bad', type: 'http', input: { url: `${upstream.url}/bad` }, retry: { max_attempts: 1 } },
        ],
      });
      await thirdAttemptRunning('/flaky-fail');
      await waitUntil(() => fixture.requestsTo('/bad') >= 1, 'bad to run');
      // Only bad's request is answered (400, not retryable): flaky's third attempt stays held.
      fixture.answer('/bad', 400);
      const failed = await waitForExecution(server, id, ['failed']);
      assert.equal(stepOf(failed, 'bad').status, 'failed');
      await assertCancelledThirdAttempt(id);
      fixture.release();
    });

    it('keeps the running attempt in the timeline when the execution is cancelled', async () => {
      const id = await runAdhoc(server, { name: 'cancelled while flaky runs', steps: [flakyStep('/flaky-cancel')] });
      await thirdAttemptRunning('/flaky-cancel');
      const cancelled = await server.request('POST', `/executions/${id}/cancel`);
      assert.equal(cancelled.status, 200, cancelled.text);
      await waitForExecution(server, id, ['cancelled']);
      await assertCancelledThirdAttempt(id);
      fixture.release();
    });

    it("keeps an external worker's task in the timeline when its execution is cancelled", async () => {
      const worker = await createKey(server, 'worker');
      await server.request('PUT', '/task-types/views.work', { key: worker, body: {} });
      const id = await runAdhoc(server, { name: 'worker cancelled', steps: [{ id: 'work', type: 'views.work' }] });
      const polled = await server.request('POST', '/tasks/poll', {
        key: worker,
        body: { worker_id: 'views-worker', types: ['views.work'], wait_seconds: 5 },
      });
      assert.equal(polled.body.tasks.length, 1, polled.text);
      assert.equal((await server.request('POST', `/executions/${id}/cancel`)).status, 200);
      const execution = await waitForExecution(server, id, ['cancelled']);
      const rows = (await timelineOf(id)).filter((item) => item.step_id === 'work');
      assert.equal(rows.length, stepOf(execution, 'work').attempts);
      assert.deepEqual(
        rows.map((row) => [row.attempt, row.status, row.worker]),
        [[1, 'cancelled', 'views-worker']],
      );
      assert.ok(rows[0]?.started_at && rows[0].ended_at === execution.completed_at, JSON.stringify(rows[0]));
      // The worker's late outcome changes nothing.
      const late = await server.request('POST', `/tasks/${polled.body.tasks[0].id}/complete`, {
        key: worker,
        body: { output: {} },
      });
      assert.ok(late.status >= 400, late.text);
      assert.deepEqual(
        (await timelineOf(id)).map((row) => row.status),
        ['cancelled'],
      );
    });
  });
}
