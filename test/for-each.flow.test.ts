import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution, waitUntil } from './helpers/http-fixtures.js';

/** `for_each` over `workflow` (a child per item) and `wait_for_signal` (a wait per item), SPEC §3.1. */

interface ItemView {
  index: number;
  status: string;
  attempts: number;
  // biome-ignore lint/suspicious/noExplicitAny: item outputs have any shape; tests assert on them.
  output: any;
  // biome-ignore lint/suspicious/noExplicitAny: item errors likewise.
  error: any;
  started_at: string | null;
  child_execution_id: string | null;
  waiting_for_signal: string | null;
}

interface EventView {
  type: string;
  step_id: string | null;
  data: Record<string, unknown>;
}

async function createWorkflow(server: TestServer, definition: Record<string, unknown>): Promise<string> {
  const response = await server.request('POST', '/workflows', { body: definition });
  assert.equal(response.status, 201, response.text);
  return response.body.id;
}

async function itemsOf(server: TestServer, executionId: string, stepId: string): Promise<ItemView[]> {
  const response = await server.request('GET', `/executions/${executionId}/steps/${stepId}/items?limit=100`);
  assert.equal(response.status, 200, response.text);
  return response.body.items;
}

async function childrenOf(server: TestServer, parentId: string) {
  const response = await server.request('GET', `/executions?parent_execution_id=${parentId}`);
  assert.equal(response.status, 200, response.text);
  return response.body.items as Array<{ id: string; status: string }>;
}

async function eventsOf(server: TestServer, executionId: string): Promise<EventView[]> {
  const response = await server.request('GET', `/executions/${executionId}/events?order=asc&limit=200`);
  assert.equal(response.status, 200, response.text);
  return response.body.items;
}

/** A `workflow` step mapped over `forEach`, each child's input the item. */
const callEach = (workflowId: string, forEach: unknown, extra: Record<string, unknown> = {}) => ({
  id: 'each',
  type: 'workflow',
  for_each: forEach,
  retry: { max_attempts: 1 },
  input: { workflow_id: workflowId, input: '{{ item }}' },
  ...extra,
});

/** A `wait_for_signal` step mapped over `forEach`. */
const waitEach = (forEach: unknown, input: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  id: 'wait',
  type: 'wait_for_signal',
  for_each: forEach,
  input: { signal: 'go', ...input },
  ...extra,
});

for (const backend of testBackends()) {
  describe(`for_each over workflow and wait_for_signal (${backend})`, () => {
    let server: TestServer;
    /** Multiplies `input.n` by 10; fails when `input.fail` is true. */
    let times10: string;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      times10 = await createWorkflow(server, {
        name: 'times ten',
        steps: [
          {
            id: 'calc',
            type: 'transform',
            input: { expression: "fail = true ? $error('told to fail') : n * 10", data: '{{ input }}' },
          },
        ],
        output: { n: '{{ input.n }}', times10: '{{ steps.calc.output }}' },
      });
    });
    after(() => server.close());

    it('starts a child per item, linked to the item, and outputs the children outputs in item order', async () => {
      const list = [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }];
      const id = await runAdhoc(server, { name: 'map children', steps: [callEach(times10, list, { concurrency: 2 })] });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      assert.deepEqual(stepOf(execution, 'each').output, [
        { n: 1, times10: 10 },
        { n: 2, times10: 20 },
        { n: 3, times10: 30 },
        { n: 4, times10: 40 },
      ]);

      const items = await itemsOf(server, id, 'each');
      assert.deepEqual(
        items.map((item) => [item.index, item.status, item.attempts]),
        [0, 1, 2, 3].map((index) => [index, 'completed', 1]),
      );
      const childIds = items.map((item) => item.child_execution_id);
      assert.ok(
        childIds.every((child) => typeof child === 'string' && /^ex_/.test(child)),
        JSON.stringify(childIds),
      );
      assert.equal(new Set(childIds).size, 4, 'a distinct child per item');
      for (const [index, childId] of childIds.entries()) {
        const child = (await server.request('GET', `/executions/${childId}`)).body;
        assert.equal(child.status, 'completed');
        assert.equal(child.parent_execution_id, id);
        assert.equal(child.parent_step_id, 'each');
        assert.equal(child.workflow_id, times10);
        assert.deepEqual(child.input, list[index]);
      }
      const children = await childrenOf(server, id);
      assert.deepEqual(children.map((child) => child.id).sort(), [...childIds].sort());
      // concurrency 2: when a child started, at most one other child was still under way.
      const spans = await Promise.all(
        childIds.map(async (childId) => (await server.request('GET', `/executions/${childId}`)).body),
      );
      for (const child of spans) {
        const alongside = spans.filter(
          (other) =>
            other.id !== child.id && other.created_at <= child.created_at && other.completed_at > child.created_at,
        );
        assert.ok(alongside.length <= 1, `child ${child.id} started beside ${alongside.length} others`);
      }
      // Each item announced its child with a step.waiting event carrying its index.
      const waits = (await eventsOf(server, id)).filter((event) => event.type === 'step.waiting');
      assert.deepEqual(
        waits.map((event) => [event.data.index, event.data.child_execution_id]).sort(),
        childIds.map((childId, index) => [index, childId]),
      );
    });

    it('tolerates a failed child as a null output, and fails the step naming the item without tolerance', async () => {
      const list = [{ n: 1 }, { n: 2, fail: true }, { n: 3 }];
      const tolerated = await runAdhoc(server, {
        name: 'tolerated child',
        steps: [callEach(times10, list, { tolerated_failures: 1 })],
      });
      const ok = await waitForExecution(server, tolerated, ['completed', 'failed']);
      assert.equal(ok.status, 'completed', JSON.stringify(ok));
      assert.deepEqual(stepOf(ok, 'each').output, [{ n: 1, times10: 10 }, null, { n: 3, times10: 30 }]);
      const [failedItem] = await itemsOf(server, tolerated, 'each').then((items) =>
        items.filter((item) => item.status === 'failed'),
      );
      assert.equal(failedItem?.index, 1);
      assert.match(failedItem?.error.message, /child execution 'ex_[^']+' failed: .*told to fail/);
      const failedChild = (await server.request('GET', `/executions/${failedItem?.child_execution_id}`)).body;
      assert.equal(failedChild.status, 'failed');

      const strict = await runAdhoc(server, { name: 'strict child', steps: [callEach(times10, list)] });
      const failed = await waitForExecution(server, strict, ['completed', 'failed']);
      assert.equal(failed.status, 'failed');
      const step = stepOf(failed, 'each');
      assert.equal(step.status, 'failed');
      assert.match(step.error.message, /^1 of 3 items failed \(first: item 1: workflow: child execution 'ex_/);
      assert.equal(step.error.index, 1);
    });

    it('cancels every running child when the parent is cancelled', async () => {
      const sleeper = await createWorkflow(server, {
        name: 'sleeper',
        steps: [{ id: 'sleep', type: 'delay', input: { seconds: 60 } }],
      });
      const id = await runAdhoc(server, { name: 'cancel children', steps: [callEach(sleeper, [1, 2, 3])] });
      await waitUntil(async () => {
        const children = await childrenOf(server, id);
        return children.length === 3 && children.every((child) => child.status === 'running');
      }, 'three running children');
      const waiting = await itemsOf(server, id, 'each');
      assert.deepEqual(
        waiting.map((item) => item.status),
        ['waiting', 'waiting', 'waiting'],
      );
      const cancelled = await server.request('POST', `/executions/${id}/cancel`);
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.equal(cancelled.body.status, 'cancelled');
      const children = await childrenOf(server, id);
      assert.deepEqual(
        children.map((child) => child.status),
        ['cancelled', 'cancelled', 'cancelled'],
      );
      const items = await itemsOf(server, id, 'each');
      assert.deepEqual(
        items.map((item) => item.status),
        ['cancelled', 'cancelled', 'cancelled'],
      );
    });

    it('waits per item; each signal goes to the longest waiter, step or item (ties: lowest index)', async () => {
      const id = await runAdhoc(server, {
        name: 'signal items',
        steps: [
          { id: 'first', type: 'wait_for_signal', input: { signal: 'go' } },
          { id: 'pause', type: 'delay', input: { seconds: 0.2 } },
          waitEach([1, 2, 3], {}, { depends_on: ['pause'] }),
        ],
      });
      let waiting: ItemView[] = [];
      await waitUntil(async () => {
        waiting = await itemsOf(server, id, 'wait');
        return waiting.length === 3 && waiting.every((item) => item.status === 'waiting');
      }, 'three waiting items');
      assert.deepEqual(
        waiting.map((item) => item.waiting_for_signal),
        ['go', 'go', 'go'],
      );
      const view = (await server.request('GET', `/executions/${id}`)).body;
      const first = view.steps.find((step: { step_id: string }) => step.step_id === 'first');
      assert.deepEqual([first.status, first.waiting_for_signal], ['waiting', 'go']);
      // Oldest first by the time the wait started, ties broken by index.
      const waiters = [
        { step: 'first', index: null as number | null, since: first.started_at as string },
        ...waiting.map((item) => ({ step: 'wait', index: item.index as number | null, since: item.started_at ?? '' })),
      ];
      const expected = waiters
        .sort((a, b) => a.since.localeCompare(b.since) || (a.index ?? -1) - (b.index ?? -1))
        .map((waiter) => [waiter.step, waiter.index]);
      // The step waited 0.2 s before any item did; the items started waiting in one claim.
      assert.deepEqual(expected, [
        ['first', null],
        ['wait', 0],
        ['wait', 1],
        ['wait', 2],
      ]);

      const consumers: Array<[string, number | null]> = [];
      for (const data of ['a', 'b', 'c', 'd']) {
        const sent = await server.request('POST', `/executions/${id}/signals/go`, { body: { data } });
        assert.equal(sent.status, 202, sent.text);
        consumers.push([sent.body.consumed_by_step, sent.body.consumed_by_index]);
      }
      assert.deepEqual(consumers, expected);
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      assert.equal(stepOf(execution, 'first').output, 'a');
      assert.deepEqual(stepOf(execution, 'wait').output, ['b', 'c', 'd']);
      const listed = await server.request('GET', `/executions/${id}/signals`);
      assert.deepEqual(
        listed.body.items.map((signal: { data: string; consumed_by_step: string; consumed_by_index: number }) => [
          signal.data,
          signal.consumed_by_step,
          signal.consumed_by_index,
        ]),
        [
          ['d', 'wait', 2],
          ['c', 'wait', 1],
          ['b', 'wait', 0],
          ['a', 'first', null],
        ],
      );
    });

    it('keeps a signal sent before the items wait and gives it to the first item that waits', async () => {
      const id = await runAdhoc(server, {
        name: 'early item signal',
        steps: [
          { id: 'pause', type: 'delay', input: { seconds: 0.4 } },
          waitEach([1, 2], {}, { depends_on: ['pause'] }),
        ],
      });
      const early = await server.request('POST', `/executions/${id}/signals/go`, { body: { data: 'early' } });
      assert.equal(early.status, 202, early.text);
      assert.equal(early.body.consumed_by_step, null);
      assert.equal(early.body.consumed_by_index, null);
      let items: ItemView[] = [];
      await waitUntil(async () => {
        items = (await server.request('GET', `/executions/${id}/steps/wait/items`)).body.items ?? [];
        return items.length === 2 && items.some((item) => item.status === 'waiting');
      }, 'one item waiting');
      const done = items.filter((item) => item.status === 'completed');
      assert.equal(done.length, 1, JSON.stringify(items));
      assert.equal(done[0]?.output, 'early');
      const listed = (await server.request('GET', `/executions/${id}/signals`)).body.items;
      assert.deepEqual([listed[0].consumed_by_step, listed[0].consumed_by_index], ['wait', done[0]?.index]);
      const waiter = items.find((item) => item.status === 'waiting');
      assert.equal(waiter?.waiting_for_signal, 'go');
      const late = await server.request('POST', `/executions/${id}/signals/go`, { body: { data: 'late' } });
      assert.equal(late.body.consumed_by_index, waiter?.index, late.text);
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      const output = stepOf(execution, 'wait').output as string[];
      assert.equal(output[done[0]?.index as number], 'early');
      assert.equal(output[waiter?.index as number], 'late');
    });

    it('fails each item attempt with SIGNAL_TIMEOUT after timeout_seconds; tolerance applies', async () => {
      const started = Date.now();
      const id = await runAdhoc(server, {
        name: 'item timeouts',
        steps: [waitEach([1, 2, 3], { timeout_seconds: 1 }, { retry: { max_attempts: 1 }, tolerated_failures: 3 })],
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.ok(Date.now() - started >= 1000, 'no item timed out before its timeout');
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      assert.deepEqual(stepOf(execution, 'wait').output, [null, null, null]);
      const items = await itemsOf(server, id, 'wait');
      assert.deepEqual(
        items.map((item) => [item.index, item.status, item.attempts, item.error?.code, item.waiting_for_signal]),
        [0, 1, 2].map((index) => [index, 'failed', 1, 'SIGNAL_TIMEOUT', null]),
      );
      assert.match(items[0]?.error.message, /no signal 'go' arrived in time \(timeout_seconds: 1\)/);
      // A signal after the step ended is not consumed by a timed-out item.
      const late = await server.request('POST', `/executions/${id}/signals/go`, { body: { data: 1 } });
      assert.equal(late.status, 409, late.text);
    });

    it('emits step.* events with index for items, the step its own without, and a timeline entry per item', async () => {
      const id = await runAdhoc(server, {
        name: 'item events',
        steps: [{ id: 'each', type: 'noop', for_each: [10, 20, 30], input: { value: '{{ item }}' } }],
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      assert.deepEqual(stepOf(execution, 'each').output, [{ value: 10 }, { value: 20 }, { value: 30 }]);

      const events = (await eventsOf(server, id)).filter((event) => event.step_id === 'each');
      const ofItems = (type: string) =>
        events
          .filter((event) => event.type === type && event.data.index !== undefined && event.data.index !== null)
          .map((event) => event.data.index)
          .sort();
      assert.deepEqual(ofItems('step.started'), [0, 1, 2]);
      assert.deepEqual(ofItems('step.completed'), [0, 1, 2]);
      for (const event of events.filter((candidate) => typeof candidate.data.index === 'number')) {
        assert.equal(event.data.attempt, 1, JSON.stringify(event));
      }
      const itemCompleted = events.find((event) => event.type === 'step.completed' && event.data.index === 2);
      assert.deepEqual(itemCompleted?.data.output, { value: 30 });
      const own = events.filter(
        (event) => event.type === 'step.completed' && (event.data.index === undefined || event.data.index === null),
      );
      assert.equal(own.length, 1, JSON.stringify(events));
      assert.ok(
        events.indexOf(own[0] as EventView) >
          Math.max(
            ...events.filter((event) => typeof event.data.index === 'number').map((event) => events.indexOf(event)),
          ),
        "the step's own step.completed comes after its items' events",
      );

      const timeline = await server.request('GET', `/executions/${id}/timeline`);
      assert.equal(timeline.status, 200, timeline.text);
      const entries = timeline.body.items.filter((entry: { step_id: string }) => entry.step_id === 'each');
      const itemEntries = entries.filter((entry: { index: number | null }) => entry.index !== null);
      assert.deepEqual(
        itemEntries.map((entry: { index: number; attempt: number; status: string }) => [
          entry.index,
          entry.attempt,
          entry.status,
        ]),
        [
          [0, 1, 'completed'],
          [1, 1, 'completed'],
          [2, 1, 'completed'],
        ],
      );
    });
  });
}
