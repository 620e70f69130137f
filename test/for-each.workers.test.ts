import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution } from './helpers/http-fixtures.js';

/**
 * `for_each` over a step whose type is served by external workers (SPEC §3.1, docs/for-each.md):
 * each item is its own task, with its `index` and the input rendered for that item, under the
 * step's `concurrency`, retry, lease and tolerance, as a worker and a client see them over HTTP.
 */

interface Task {
  id: string;
  execution_id: string;
  step_id: string;
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: task inputs have any shape; tests assert on them.
  input: any;
  index: number | null;
  attempt: number;
  lease_seconds: number;
}

interface Entry {
  step_id: string;
  index: number | null;
  attempt: number;
  status: string;
  worker: string | null;
  queued_at: string | null;
  started_at: string | null;
  ended_at: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: timeline errors have any shape.
  error: any;
}

/** Every task type this file declares, one per test so that no test sees another's tasks. */
const TYPES = ['fe.map', 'fe.retry', 'fe.fatal', 'fe.tolerated', 'fe.release', 'fe.tenant', 'fe.cancel'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const backend of testBackends()) {
  describe(`for_each over worker tasks (${backend})`, () => {
    let server: TestServer;
    let worker: string;
    /** The cancelled execution of the last test, and its item timeline while the tasks were held. */
    let cancelledRun: { id: string; running: Entry[] } | undefined;

    const poll = async (type: string, extra: Record<string, unknown> = {}, key = worker): Promise<Task[]> => {
      const response = await server.request('POST', '/tasks/poll', {
        key,
        body: { worker_id: 'w1', types: [type], max_tasks: 10, ...extra },
      });
      assert.equal(response.status, 200, response.text);
      return response.body.tasks;
    };
    const call = (task: Task | string, action: string, body: unknown = {}, key = worker) =>
      server.request('POST', `/tasks/${typeof task === 'string' ? task : task.id}/${action}`, { key, body });
    /** Polls until `count` tasks of `type` are held (each poll may hand out fewer). */
    const take = async (type: string, count: number): Promise<Task[]> => {
      const tasks: Task[] = [];
      for (let round = 0; tasks.length < count && round < 10; round += 1) {
        tasks.push(...(await poll(type, { wait_seconds: 5, max_tasks: count - tasks.length })));
      }
      assert.equal(tasks.length, count, `held ${tasks.length} of ${count} tasks of ${type}`);
      return tasks.sort((a, b) => (a.index ?? -1) - (b.index ?? -1));
    };
    const itemsOf = async (id: string, key?: string) => {
      const response = await server.request('GET', `/executions/${id}/steps/each/items?limit=100`, { key });
      assert.equal(response.status, 200, response.text);
      return response.body.items as Array<{ index: number; status: string; attempts: number; output: unknown }>;
    };
    const itemEntries = async (id: string): Promise<Entry[]> => {
      const timeline = await server.request('GET', `/executions/${id}/timeline`);
      assert.equal(timeline.status, 200, timeline.text);
      return timeline.body.items.filter((entry: Entry) => entry.step_id === 'each' && entry.index !== null);
    };
    /** An ad-hoc run of one `for_each` step of `type` over `list`. */
    const runEach = (type: string, list: unknown[], fields: Record<string, unknown> = {}) =>
      runAdhoc(
        server,
        {
          name: `each ${type}`,
          steps: [
            {
              id: 'each',
              type,
              for_each: '{{ input.list }}',
              input: { item: '{{ item }}', at: '{{ index }}' },
              ...fields,
            },
          ],
          output: '{{ steps.each.output }}',
        },
        { list },
      );

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 100 });
      worker = await createKey(server, 'worker');
      for (const type of TYPES) {
        const declared = await server.request('PUT', `/task-types/${type}`, { key: worker, body: {} });
        assert.equal(declared.status, 200, declared.text);
      }
      const short = await server.request('PUT', '/task-types/fe.lease', { key: worker, body: { lease_seconds: 1 } });
      assert.equal(short.status, 200, short.text);
    });
    after(() => server.close());

    it('hands out at most `concurrency` items at once, each with its index and input, outputs in item order', async () => {
      const words = ['a', 'b', 'c', 'd', 'e', 'f'];
      const id = await runEach('fe.map', words, { concurrency: 2 });
      const held: Task[] = [];
      const handedOut: number[] = [];
      for (let round = 0; handedOut.length < words.length || held.length > 0; round += 1) {
        assert.ok(round < 40, `stuck with ${handedOut.length} handed out: ${JSON.stringify(held)}`);
        if (handedOut.length < words.length) {
          // With two held, a poll must come back empty: the step's concurrency bounds its items.
          const got = await poll('fe.map', { wait_seconds: held.length >= 2 ? 0.4 : 5 });
          for (const task of got) {
            assert.equal(task.execution_id, id);
            assert.equal(task.step_id, 'each');
            assert.equal(task.type, 'fe.map');
            assert.equal(task.attempt, 1);
            assert.equal(typeof task.index, 'number');
            assert.deepEqual(task.input, { item: words[task.index as number], at: task.index });
          }
          held.push(...got);
          handedOut.push(...got.map((task) => task.index as number));
          assert.ok(held.length <= 2, `at most 2 items of the step out at once, held ${held.length}`);
          if (held.length < 2 && handedOut.length < words.length) continue;
        }
        // Out of order: the highest index held completes first.
        held.sort((a, b) => (b.index ?? 0) - (a.index ?? 0));
        const task = held.shift() as Task;
        const done = await call(task, 'complete', { output: { upper: task.input.item.toUpperCase() } });
        assert.equal(done.status, 200, done.text);
        assert.equal(done.body.status, 'completed');
      }
      // Items are queued lowest index first: 0 and 1, then each free slot takes the next one.
      assert.deepEqual([...handedOut.slice(0, 2)].sort(), [0, 1]);
      assert.deepEqual(handedOut.slice(2), [2, 3, 4, 5]);

      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      const upper = words.map((word) => ({ upper: word.toUpperCase() }));
      assert.deepEqual(stepOf(execution, 'each').output, upper);
      assert.deepEqual(execution.output, upper);
      const view = execution.steps.find((step: { step_id: string }) => step.step_id === 'each');
      assert.deepEqual(view.items, { total: 6, pending: 0, running: 0, completed: 6, failed: 0, cancelled: 0 });
      assert.deepEqual(
        (await itemsOf(id)).map((item) => [item.index, item.status, item.attempts, item.output]),
        upper.map((output, index) => [index, 'completed', 1, output]),
      );
      assert.deepEqual(
        (await itemEntries(id)).map((entry) => [entry.index, entry.attempt, entry.status, entry.worker]),
        words.map((_, index) => [index, 1, 'completed', 'w1']),
      );
    });

    it('hands a retryably failed item out again as attempt 2 with the same input', async () => {
      const id = await runEach('fe.retry', [10, 20, 30], {
        retry: { max_attempts: 2, backoff: 'fixed', delay_ms: 100 },
      });
      const [first, second, third] = await take('fe.retry', 3);
      const failed = await call(second as Task, 'fail', { error: { message: 'flaky item' } });
      assert.equal(failed.status, 200, failed.text);
      assert.equal(failed.body.status, 'queued');
      for (const task of [first, third])
        assert.equal((await call(task as Task, 'complete', { output: task?.input.item })).status, 200);
      const [again] = await take('fe.retry', 1);
      assert.deepEqual([again?.index, again?.attempt, again?.input], [1, 2, { item: 20, at: 1 }]);
      assert.notEqual(again?.id, second?.id);
      assertProblem(await call(second as Task, 'complete', { output: 0 }), 409, 'LEASE_LOST');
      assert.equal((await call(again as Task, 'complete', { output: 21 })).status, 200);

      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      assert.deepEqual(execution.output, [10, 21, 30]);
      assert.deepEqual(
        (await itemsOf(id)).map((item) => item.attempts),
        [1, 2, 1],
      );
      const entries = (await itemEntries(id)).filter((entry) => entry.index === 1);
      assert.deepEqual(
        entries.map((entry) => [entry.attempt, entry.status]),
        [
          [1, 'failed'],
          [2, 'completed'],
        ],
      );
      assert.equal(entries[0]?.error.message, 'flaky item');
    });

    it('fails the step and the execution, naming the item, on a non-retryable item failure', async () => {
      const id = await runEach('fe.fatal', ['x', 'y', 'z'], { retry: { max_attempts: 3 } });
      const [first, second, third] = await take('fe.fatal', 3);
      const failed = await call(third as Task, 'fail', { error: { message: 'bad item', retryable: false } });
      assert.equal(failed.body.status, 'failed', failed.text);
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'failed');
      const step = stepOf(execution, 'each');
      assert.equal(step.status, 'failed');
      assert.equal(step.error.message, '1 of 3 items failed (first: item 2: bad item)');
      assert.equal(step.error.index, 2);
      assert.match(execution.error.message, /item 2: bad item/);
      // The other items were cancelled with the step: their workers are told to stop.
      for (const task of [first, second]) {
        const beat = await call(task as Task, 'heartbeat');
        assert.equal(beat.status, 200, beat.text);
        assert.equal(beat.body.cancel_requested, true);
        assertProblem(await call(task as Task, 'complete', { output: 1 }), 409, 'LEASE_LOST');
      }
      assert.deepEqual(
        (await itemsOf(id)).map((item) => [item.status, item.attempts]),
        [
          ['cancelled', 1],
          ['cancelled', 1],
          ['failed', 1],
        ],
      );
      // The cancelled items' attempts stay in the timeline, once each, ended as cancelled.
      const entries = await itemEntries(id);
      assert.deepEqual(
        entries.map((entry) => [entry.index, entry.attempt, entry.status, entry.worker]),
        [
          [0, 1, 'cancelled', 'w1'],
          [1, 1, 'cancelled', 'w1'],
          [2, 1, 'failed', 'w1'],
        ],
      );
      const view = execution.steps.find((candidate: { step_id: string }) => candidate.step_id === 'each');
      for (const entry of entries.slice(0, 2)) {
        assert.match(entry.error.message, /^cancelled: step 'each' failed: 1 of 3 items failed/);
        assert.equal(entry.ended_at, view.completed_at);
      }
    });

    it('tolerates an item whose retries ran out within tolerated_failures: its output is null', async () => {
      const id = await runEach('fe.tolerated', [1, 2, 3], { retry: { max_attempts: 1 }, tolerated_failures: 1 });
      const [first, second, third] = await take('fe.tolerated', 3);
      const failed = await call(first as Task, 'fail', { error: { message: 'gave up' } });
      assert.equal(failed.body.status, 'failed', failed.text);
      for (const task of [second, third])
        assert.equal((await call(task as Task, 'complete', { output: task?.input.item })).status, 200);
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      assert.deepEqual(execution.output, [null, 2, 3]);
      const failedItems = await server.request('GET', `/executions/${id}/steps/each/items?status=failed`);
      assert.deepEqual(
        failedItems.body.items.map((item: { index: number; error: { message: string } }) => [
          item.index,
          item.error.message,
        ]),
        [[0, 'gave up']],
      );
    });

    it('takes back an expired item lease as attempt 2 (late calls are 409); heartbeats keep a lease', async () => {
      const id = await runEach('fe.lease', ['quiet', 'beating'], {
        retry: { max_attempts: 2, backoff: 'fixed', delay_ms: 100 },
      });
      const [quiet, beating] = await take('fe.lease', 2);
      assert.equal(quiet?.lease_seconds, 1);
      let beats = true;
      const beatResults: number[] = [];
      const heartbeats = (async () => {
        while (beats) {
          const beat = await call(beating as Task, 'heartbeat');
          beatResults.push(beat.status);
          if (beat.status === 200) assert.equal(beat.body.cancel_requested, false);
          await sleep(250);
        }
      })();
      try {
        // Only the quiet item comes back; the beating one is not re-handed, even after 2 leases.
        const [again] = await poll('fe.lease', { wait_seconds: 10 });
        assert.deepEqual([again?.index, again?.attempt, again?.input], [0, 2, { item: 'quiet', at: 0 }]);
        assertProblem(await call(quiet as Task, 'complete', { output: 'late' }), 409, 'LEASE_LOST');
        assertProblem(await call(quiet as Task, 'heartbeat'), 409, 'LEASE_LOST');
        // Attempt 2 has a 1 s lease too: completed before it runs out.
        assert.equal((await call(again as Task, 'complete', { output: 'on time' })).status, 200);
        assert.deepEqual(await poll('fe.lease', { wait_seconds: 2 }), []);
      } finally {
        beats = false;
        await heartbeats;
      }
      assert.ok(beatResults.length >= 4 && beatResults.every((status) => status === 200), JSON.stringify(beatResults));
      assert.equal((await call(beating as Task, 'complete', { output: 'kept' })).status, 200);
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      assert.deepEqual(execution.output, ['on time', 'kept']);
      const entries = await itemEntries(id);
      assert.deepEqual(
        entries.map((entry) => [entry.index, entry.attempt, entry.status]),
        [
          [0, 1, 'failed'],
          [0, 2, 'completed'],
          [1, 1, 'completed'],
        ],
      );
      assert.match(entries[0]?.error.message, /lease expired: worker 'w1' stopped sending heartbeats/);
    });

    it('puts a released item back without failing it (no attempt used up)', async () => {
      const id = await runEach('fe.release', ['only'], { retry: { max_attempts: 1 } });
      const [task] = await take('fe.release', 1);
      const released = await call(task as Task, 'release');
      assert.equal(released.status, 200, released.text);
      assert.equal(released.body.status, 'queued');
      assert.equal((await itemsOf(id))[0]?.status, 'queued');
      // With max_attempts 1, a failed attempt would have failed the item: it is handed out again.
      const [again] = await take('fe.release', 1);
      assert.deepEqual([again?.index, again?.attempt, again?.input], [0, 2, { item: 'only', at: 0 }]);
      assertProblem(await call(task as Task, 'complete', { output: 'old' }), 409, 'LEASE_LOST');
      assert.equal((await call(again as Task, 'complete', { output: 'done' })).status, 200);
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      assert.deepEqual(execution.output, ['done']);
      assert.deepEqual(
        (await itemEntries(id)).map((entry) => [entry.attempt, entry.status]),
        [
          [1, 'released'],
          [2, 'completed'],
        ],
      );
    });

    it("keeps items from another workspace's workers and readers", async () => {
      const workspace = await server.request('POST', '/workspaces', { body: { slug: 'fe-other', name: 'Other' } });
      assert.equal(workspace.status, 201, workspace.text);
      const otherWorker = await createKey(server, 'worker', workspace.body.id);
      const otherMember = await createKey(server, 'member', workspace.body.id);
      // The other workspace serves a type of the same name.
      const declared = await server.request('PUT', '/task-types/fe.tenant', { key: otherWorker, body: {} });
      assert.equal(declared.status, 200, declared.text);

      const id = await runEach('fe.tenant', [1, 2]);
      await sleep(200);
      assert.deepEqual(await poll('fe.tenant', { wait_seconds: 0.5 }, otherWorker), []);
      assertProblem(
        await server.request('GET', `/executions/${id}/steps/each/items`, { key: otherMember }),
        404,
        'NOT_FOUND',
      );
      const asAdmin = await server.request('GET', `/executions/${id}/steps/each/items`, {
        headers: { 'x-workspace-id': workspace.body.id },
      });
      assertProblem(asAdmin, 404, 'NOT_FOUND');

      const tasks = await take('fe.tenant', 2);
      for (const task of tasks) {
        assertProblem(await call(task, 'heartbeat', {}, otherWorker), 404, 'NOT_FOUND');
        assertProblem(await call(task, 'complete', { output: 'stolen' }, otherWorker), 404, 'NOT_FOUND');
        assert.equal((await call(task, 'complete', { output: task.index })).status, 200);
      }
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      assert.deepEqual(execution.output, [0, 1]);
    });

    it('answers cancel_requested for held items after a cancel, and cancels every item', async () => {
      const id = await runEach('fe.cancel', [1, 2, 3, 4], { concurrency: 2 });
      const held = await take('fe.cancel', 2);
      assert.deepEqual(
        held.map((task) => task.index),
        [0, 1],
      );
      cancelledRun = { id, running: await itemEntries(id) };
      const cancelled = await server.request('POST', `/executions/${id}/cancel`);
      assert.equal(cancelled.status, 200, cancelled.text);
      for (const task of held) {
        const beat = await call(task, 'heartbeat');
        assert.equal(beat.status, 200, beat.text);
        assert.equal(beat.body.cancel_requested, true);
        assertProblem(await call(task, 'complete', { output: 'late' }), 409, 'LEASE_LOST');
        assertProblem(await call(task, 'fail', { error: { message: 'late' } }), 409, 'LEASE_LOST');
      }
      const execution = await waitForExecution(server, id, ['cancelled']);
      const view = execution.steps.find((step: { step_id: string }) => step.step_id === 'each');
      assert.equal(view.status, 'cancelled');
      assert.deepEqual(view.items, { total: 4, pending: 0, running: 0, completed: 0, failed: 0, cancelled: 4 });
      assert.deepEqual(
        (await itemsOf(id)).map((item) => [item.index, item.status]),
        [0, 1, 2, 3].map((index) => [index, 'cancelled']),
      );
      assert.deepEqual(await poll('fe.cancel', { wait_seconds: 0.5 }), []);
    });

    it('names the worker of a held item attempt in the timeline by its worker_id', () => {
      assert.deepEqual(
        cancelledRun?.running.map((entry) => [entry.index, entry.attempt, entry.status, entry.worker]),
        [
          [0, 1, 'running', 'w1'],
          [1, 1, 'running', 'w1'],
        ],
      );
    });

    it('ends the item attempts held at a cancel as `cancelled` in the timeline', async () => {
      const execution = await waitForExecution(server, cancelledRun?.id ?? '', ['cancelled']);
      const entries = await itemEntries(cancelledRun?.id ?? '');
      // Once each (items 2 and 3 never started, so they have no attempt), with worker and times kept.
      assert.deepEqual(
        entries.map((entry) => [entry.index, entry.attempt, entry.status, entry.worker]),
        [
          [0, 1, 'cancelled', 'w1'],
          [1, 1, 'cancelled', 'w1'],
        ],
      );
      entries.forEach((entry, position) => {
        const running = cancelledRun?.running[position];
        assert.equal(entry.queued_at, running?.queued_at);
        assert.equal(entry.started_at, running?.started_at);
        assert.equal(entry.ended_at, execution.completed_at);
        assert.match(entry.error.message, /^cancelled: the execution was cancelled/);
      });
    });
  });
}
