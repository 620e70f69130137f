import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestDatabase, testBackends } from './helpers/backends.js';
import { startFixtureServer, waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe } from './helpers/processes.js';
import { api, countByStatus, serveEnv } from './helpers/serve-restarts.js';

/**
 * `for_each` over `workflow` (a child execution per item) and `wait_for_signal` (a wait per item)
 * with a real `weft serve` SIGKILLed mid-way and restarted on the same database (docs/for-each.md,
 * "Crashes"): every item ends once, with one child per item and each signal consumed once.
 */

interface ItemView {
  index: number;
  status: string;
  attempts: number;
  output: unknown;
  child_execution_id: string | null;
  waiting_for_signal: string | null;
}

interface SignalView {
  id: string;
  data: unknown;
  consumed_by_step: string | null;
  consumed_by_index: number | null;
}

const itemsOf = async (url: string, id: string, stepId: string): Promise<ItemView[]> => {
  const response = await api(url, 'GET', `/executions/${id}/steps/${stepId}/items?limit=100`);
  assert.equal(response.status, 200, response.text);
  return response.body.items;
};

async function waitForEnd(url: string, id: string, timeoutMs: number) {
  await waitUntil(
    async () => ['completed', 'failed', 'cancelled'].includes((await api(url, 'GET', `/executions/${id}`)).body.status),
    `execution ${id} to end`,
    timeoutMs,
  );
  return (await api(url, 'GET', `/executions/${id}`)).body;
}

const ITEMS = 6;

for (const backend of testBackends()) {
  describe(`for_each over children and signals across kill -9 (${backend})`, () => {
    it('finishes a child per item after kill -9 mid-run: one child per item, outputs in order', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      // Slow calls, counted per item: each child posts its item's `n`.
      const calls = new Map<number, number>();
      const fixture = await startFixtureServer(async ({ body }) => {
        const { n } = body as { n: number };
        calls.set(n, (calls.get(n) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 300));
        return { json: { n, doubled: n * 2 } };
      });
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(serveEnv(database));
        const first = serve.url;
        const child = await api(first, 'POST', '/workflows', {
          name: 'slow child',
          steps: [
            {
              id: 'work',
              type: 'http',
              input: { url: `${fixture.url}/work`, method: 'POST', body: { n: '{{ input.n }}' } },
            },
          ],
          output: { n: '{{ input.n }}', doubled: '{{ steps.work.output.body.doubled }}' },
        });
        assert.equal(child.status, 201, child.text);
        const list = Array.from({ length: ITEMS }, (_, n) => ({ n }));
        const started = await api(first, 'POST', '/executions', {
          definition: {
            name: 'children per item',
            steps: [
              {
                id: 'each',
                type: 'workflow',
                for_each: list,
                concurrency: 3,
                input: { workflow_id: child.body.id, input: '{{ item }}' },
              },
            ],
            output: '{{ steps.each.output }}',
          },
        });
        assert.equal(started.status, 202, started.text);
        const id = started.body.id as string;
        // The first three children have called; the kill comes while children run.
        await waitUntil(() => calls.size >= 4, 'some children to call the fixture', 20_000);
        const before = await itemsOf(first, id, 'each');
        assert.ok(
          before.some((item) => item.status === 'waiting' && item.child_execution_id),
          `a child is under way at the kill: ${JSON.stringify(before)}`,
        );
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        const callsAtKill = new Map(calls);
        const doneAtKill = before.filter((item) => item.status === 'completed').map((item) => item.index);

        serve = await startServe(serveEnv(database));
        const url = serve.url;
        const parent = await waitForEnd(url, id, 40_000);
        assert.equal(parent.status, 'completed', JSON.stringify(parent.error));
        assert.deepEqual(
          parent.output,
          list.map(({ n }) => ({ n, doubled: n * 2 })),
        );

        const items = await itemsOf(url, id, 'each');
        assert.deepEqual(
          items.map((item) => [item.index, item.status]),
          list.map((_, index) => [index, 'completed']),
        );
        // Children of the parent: exactly one per item (a waiting item keeps its child through a
        // crash; the child's lost step runs again inside the same child).
        const listed = await api(url, 'GET', `/executions?parent_execution_id=${id}&limit=200`);
        assert.equal(listed.status, 200, listed.text);
        const children = listed.body.items as Array<{ id: string; status: string }>;
        assert.equal(children.length, ITEMS, JSON.stringify(children));
        assert.ok(
          children.every((each) => each.status === 'completed'),
          JSON.stringify(children),
        );
        const byIndex = new Map<number, string>();
        for (const each of children) {
          const view = (await api(url, 'GET', `/executions/${each.id}`)).body;
          assert.equal(view.parent_execution_id, id);
          assert.equal(view.parent_step_id, 'each');
          const n = (view.input as { n: number }).n;
          assert.ok(!byIndex.has(n), `two children for item ${n}`);
          byIndex.set(n, each.id);
          assert.deepEqual(view.output, { n, doubled: n * 2 });
        }
        for (const item of items) {
          assert.equal(item.child_execution_id, byIndex.get(item.index), `item ${item.index} names its child`);
          assert.deepEqual(item.output, { n: item.index, doubled: item.index * 2 });
          const ran = calls.get(item.index) ?? 0;
          assert.ok(ran >= 1, `item ${item.index} never called`);
          // A child completed before the kill never runs again.
          if (doneAtKill.includes(item.index)) assert.equal(ran, callsAtKill.get(item.index), `item ${item.index}`);
        }
        // The kill cut calls short; their children's steps ran again (at-least-once), in the same child.
        assert.ok(
          [...calls.values()].some((ran) => ran > 1),
          `a call cut by the kill ran again: ${JSON.stringify([...calls])}`,
        );
        assert.equal(await countByStatus(url, 'running'), 0, 'nothing stays running');
      } finally {
        await serve?.stop('SIGKILL');
        await fixture.close();
        await database.drop();
      }
    });

    it('keeps item waits through kill -9: each of three signals completes one item, consumed once', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(serveEnv(database));
        const first = serve.url;
        const started = await api(first, 'POST', '/executions', {
          definition: {
            name: 'approvals per item',
            steps: [
              { id: 'wait', type: 'wait_for_signal', for_each: ['a', 'b', 'c'], input: { signal: 'approve' } },
              { id: 'after', type: 'noop', depends_on: ['wait'], input: { got: '{{ steps.wait.output }}' } },
            ],
            output: '{{ steps.wait.output }}',
          },
        });
        assert.equal(started.status, 202, started.text);
        const id = started.body.id as string;
        await waitUntil(
          async () => (await itemsOf(first, id, 'wait')).filter((item) => item.status === 'waiting').length === 3,
          'three waiting items',
          20_000,
        );
        const sent: Array<{ id: string; index: number }> = [];
        const send = async (url: string, n: number) => {
          const response = await api(url, 'POST', `/executions/${id}/signals/approve`, { data: { signal: n } });
          assert.equal(response.status, 202, response.text);
          assert.equal(response.body.consumed_by_step, 'wait', response.text);
          sent.push({ id: response.body.id, index: response.body.consumed_by_index });
        };
        // One signal, then the kill right away (its item may be mid-settle).
        await send(first, 0);
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');

        serve = await startServe(serveEnv(database));
        const url = serve.url;
        const waiting = await itemsOf(url, id, 'wait');
        assert.equal(
          waiting.filter((item) => item.status === 'waiting' && item.waiting_for_signal === 'approve').length,
          2,
          `two items still wait after the restart: ${JSON.stringify(waiting)}`,
        );
        await send(url, 1);
        await send(url, 2);
        // Items that started waiting in one claim take signals lowest index first.
        assert.deepEqual(
          sent.map((signal) => signal.index),
          [0, 1, 2],
        );

        const execution = await waitForEnd(url, id, 20_000);
        assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
        const outputs = [{ signal: 0 }, { signal: 1 }, { signal: 2 }];
        assert.deepEqual(execution.output, outputs);
        const after = (execution.steps as Array<{ step_id: string; output: unknown }>).find(
          (step) => step.step_id === 'after',
        );
        assert.deepEqual(after?.output, { got: outputs });
        const items = await itemsOf(url, id, 'wait');
        assert.deepEqual(
          items.map((item) => [item.index, item.status, item.attempts, item.output, item.waiting_for_signal]),
          outputs.map((output, index) => [index, 'completed', 1, output, null]),
        );
        // Each signal consumed once, by the step, by the item whose output is its data.
        const signals: SignalView[] = (await api(url, 'GET', `/executions/${id}/signals?limit=200`)).body.items;
        assert.equal(signals.length, 3, JSON.stringify(signals));
        assert.deepEqual(signals.map((signal) => signal.id).sort(), sent.map((signal) => signal.id).sort());
        for (const signal of signals) {
          assert.equal(signal.consumed_by_step, 'wait', JSON.stringify(signal));
          assert.deepEqual(items[signal.consumed_by_index ?? -1]?.output, signal.data, JSON.stringify(signal));
        }
        assert.equal(new Set(signals.map((signal) => signal.consumed_by_index)).size, 3, 'distinct items');
        assert.equal(await countByStatus(url, 'running'), 0, 'nothing stays running');
      } finally {
        await serve?.stop('SIGKILL');
        await database.drop();
      }
    });
  });
}
