import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import {
  type FixtureServer,
  runAdhoc,
  startFixtureServer,
  stepOf,
  waitForExecution,
  waitUntil,
} from './helpers/http-fixtures.js';

/** At most this many items per step on the test server, so "too many" is cheap to reach. */
const MAX_ITEMS = 40;

for (const backend of testBackends()) {
  describe(`for_each (${backend})`, () => {
    let server: TestServer;
    let fixture: FixtureServer;
    /** Calls of /item in flight now, and the most at once. */
    const flight = { now: 0, max: 0 };
    /** Calls per `i` query value (to tell which items ran again). */
    const calls = new Map<string, number>();

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250, forEachMaxItems: MAX_ITEMS });
      fixture = await startFixtureServer(async ({ path }) => {
        const url = new URL(path, 'http://fixture');
        const i = url.searchParams.get('i') ?? '';
        calls.set(i, (calls.get(i) ?? 0) + 1);
        if (url.pathname === '/fail') return { status: 500, json: { failed: i } };
        // Fails the first call of each `i`, answers later ones.
        if (url.pathname === '/once' && calls.get(i) === 1) return { status: 500, json: { failed: i } };
        flight.now += 1;
        flight.max = Math.max(flight.max, flight.now);
        await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get('ms') ?? 30)));
        flight.now -= 1;
        return { json: { i: Number.isNaN(Number(i)) ? i : Number(i) } };
      });
    });
    after(async () => {
      await server.close();
      await fixture.close();
    });

    const httpItems = (forEach: unknown, extra: Record<string, unknown> = {}, path = "'item'") => ({
      id: 'each',
      type: 'http',
      for_each: forEach,
      input: { url: `${fixture.url}/{{ ${path} }}?i={{ item }}&at={{ index }}` },
      retry: { max_attempts: 1 },
      ...extra,
    });

    it('runs every item at most `concurrency` at once and keeps the outputs in item order', async () => {
      flight.max = 0;
      const list = Array.from({ length: 25 }, (_, index) => 100 + index);
      const id = await runAdhoc(
        server,
        {
          name: 'map',
          steps: [
            { id: 'list', type: 'noop', input: { values: '{{ input.values }}' } },
            httpItems('{{ steps.list.output.values }}', { concurrency: 4 }),
            { id: 'after', type: 'noop', input: { count: '{{ $count(steps.each.output) }}' } },
          ],
          output: '{{ steps.each.output.body.i }}',
        },
        { values: list },
      );
      const execution = await waitForExecution(server, id, ['completed', 'failed'], 30_000);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      assert.deepEqual(execution.output, list);
      assert.deepEqual(stepOf(execution, 'after').output, { count: 25 });
      assert.ok(flight.max <= 4, `at most 4 items at once, saw ${flight.max}`);
      assert.ok(flight.max >= 2, `items ran side by side, saw ${flight.max}`);
      const view = execution.steps.find((step: { step_id: string }) => step.step_id === 'each');
      assert.deepEqual(view.items, { total: 25, pending: 0, running: 0, completed: 25, failed: 0, cancelled: 0 });

      // The items route pages by index.
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `&cursor=${cursor}` : '';
        const page = await server.request('GET', `/executions/${id}/steps/each/items?limit=10${query}`);
        assert.equal(page.status, 200, page.text);
        for (const item of page.body.items) {
          assert.equal(item.status, 'completed');
          assert.equal(item.attempts, 1);
          assert.equal(item.output.body.i, list[item.index]);
          seen.push(item.index);
        }
        cursor = page.body.next_cursor;
      } while (cursor);
      assert.deepEqual(
        seen,
        list.map((_, index) => index),
      );
      const failed = await server.request('GET', `/executions/${id}/steps/each/items?status=failed`);
      assert.deepEqual(failed.body, { items: [], next_cursor: null });
      const missing = await server.request('GET', `/executions/${id}/steps/nope/items`);
      assertProblem(missing, 404, 'NOT_FOUND');
    });

    it('tolerates failures within tolerated_failures (null outputs) and fails the step beyond them', async () => {
      const path = "item % 4 = 0 ? 'fail' : 'item'";
      const tolerated = await runAdhoc(server, {
        name: 'tolerated',
        steps: [httpItems([1, 2, 3, 4, 5, 6, 7, 8], { tolerated_failures: 2, concurrency: 3 }, path)],
      });
      const ok = await waitForExecution(server, tolerated, ['completed', 'failed']);
      assert.equal(ok.status, 'completed', JSON.stringify(ok.error));
      const outputs = stepOf(ok, 'each').output as Array<{ body: { i: number } } | null>;
      assert.deepEqual(
        outputs.map((output) => output?.body.i ?? null),
        [1, 2, 3, null, 5, 6, 7, null],
      );
      const failedItems = await server.request('GET', `/executions/${tolerated}/steps/each/items?status=failed`);
      assert.deepEqual(
        failedItems.body.items.map((item: { index: number }) => item.index),
        [3, 7],
      );

      const strict = await runAdhoc(server, {
        name: 'strict',
        steps: [httpItems([1, 2, 3, 4, 5, 6, 7, 8], { tolerated_failure_percent: 10, concurrency: 1 }, path)],
      });
      const bad = await waitForExecution(server, strict, ['completed', 'failed']);
      assert.equal(bad.status, 'failed');
      const step = stepOf(bad, 'each');
      assert.equal(step.status, 'failed');
      assert.match(step.error.message, /1 of 8 items failed \(first: item 3/);
      // Concurrency 1: the failure of item 3 stops the step before item 4 starts.
      const view = bad.steps.find((entry: { step_id: string }) => entry.step_id === 'each');
      assert.equal(view.items.completed, 3);
      assert.equal(view.items.failed, 1);
      assert.equal(view.items.cancelled, 4);
    });

    it('retries an item under the step retry policy and runs its fallback per item', async () => {
      const id = await runAdhoc(server, {
        name: 'fallback',
        steps: [
          {
            ...httpItems([1, 2], {}, "item = 2 ? 'fail' : 'item'"),
            retry: { max_attempts: 2, delay_ms: 1 },
            fallback: { type: 'noop', input: { fell_back: '{{ item }}', index: '{{ index }}' } },
          },
        ],
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      const [first, second] = stepOf(execution, 'each').output;
      assert.equal(first.body.i, 1);
      assert.deepEqual(second, { fell_back: 2, index: 1 });
      const items = await server.request('GET', `/executions/${id}/steps/each/items`);
      assert.deepEqual(
        items.body.items.map((item: { attempts: number }) => item.attempts),
        [1, 3],
      );
    });

    it('completes an empty list with [] and fails a non-array or too long a list without retry', async () => {
      const empty = await runAdhoc(server, { name: 'empty', steps: [httpItems('{{ [] }}')] });
      const done = await waitForExecution(server, empty, ['completed', 'failed']);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      assert.deepEqual(stepOf(done, 'each').output, []);

      const object = await runAdhoc(server, { name: 'object', steps: [httpItems('{{ input }}')] }, { a: 1 });
      const notArray = await waitForExecution(server, object, ['completed', 'failed']);
      assert.equal(notArray.status, 'failed');
      assert.equal(stepOf(notArray, 'each').attempts, 1);
      assert.match(stepOf(notArray, 'each').error.message, /for_each must yield an array, got an object/);

      const long = await runAdhoc(server, { name: 'long', steps: [httpItems(`{{ [1..${MAX_ITEMS + 1}] }}`)] });
      const tooMany = await waitForExecution(server, long, ['completed', 'failed']);
      assert.equal(tooMany.status, 'failed');
      assert.match(
        stepOf(tooMany, 'each').error.message,
        new RegExp(`yielded ${MAX_ITEMS + 1} items, more than the ${MAX_ITEMS} allowed \\(WEFT_FOR_EACH_MAX_ITEMS\\)`),
      );
    });

    it('cancels items with the execution; resume re-runs only the cancelled ones', async () => {
      calls.clear();
      const id = await runAdhoc(server, {
        name: 'cancel',
        steps: [
          {
            id: 'each',
            type: 'http',
            for_each: [1, 2, 3, 4, 5, 6],
            concurrency: 2,
            input: { url: `${fixture.url}/item?i=c{{ item }}&ms=150` },
          },
        ],
      });
      const deadline = Date.now() + 10_000;
      for (;;) {
        const page = await server.request('GET', `/executions/${id}/steps/each/items?status=completed`);
        if (page.body.items.length >= 2) break;
        assert.ok(Date.now() < deadline, 'two items completed');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const cancelled = await server.request('POST', `/executions/${id}/cancel`);
      assert.equal(cancelled.status, 200, cancelled.text);
      const view = await waitForExecution(server, id, ['cancelled']);
      const counts = view.steps[0].items;
      assert.equal(counts.total, 6);
      assert.equal(counts.pending + counts.running, 0);
      assert.ok(counts.cancelled >= 1, JSON.stringify(counts));
      const before = (await server.request('GET', `/executions/${id}/steps/each/items?status=completed`)).body.items;

      const resumed = await server.request('POST', `/executions/${id}/resume`);
      assert.equal(resumed.status, 200, resumed.text);
      const done = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      assert.deepEqual(
        stepOf(done, 'each').output.map((output: { body: { i: string } }) => output.body.i),
        ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'],
      );
      for (const item of before) assert.equal(calls.get(`c${item.index + 1}`), 1, `item ${item.index} ran once`);
    });

    it('pause stops starting items; resume goes on from where they were', async () => {
      calls.clear();
      const id = await runAdhoc(server, {
        name: 'pause',
        steps: [
          {
            id: 'each',
            type: 'http',
            for_each: [1, 2, 3, 4, 5, 6, 7, 8],
            concurrency: 2,
            input: { url: `${fixture.url}/item?i=p{{ item }}&ms=100` },
          },
        ],
      });
      await waitUntil(async () => {
        const view = await server.request('GET', `/executions/${id}`);
        return (view.body.steps[0].items?.completed ?? 0) >= 1;
      }, 'an item to complete');
      assert.equal((await server.request('POST', `/executions/${id}/pause`)).status, 200);
      // The items running at the pause finish; no other starts.
      await waitUntil(async () => {
        const view = await server.request('GET', `/executions/${id}`);
        return view.body.steps[0].items.running === 0;
      }, 'the running items to finish');
      const paused = (await server.request('GET', `/executions/${id}`)).body.steps[0].items;
      await new Promise((resolve) => setTimeout(resolve, 400));
      const later = (await server.request('GET', `/executions/${id}`)).body;
      assert.equal(later.status, 'paused');
      assert.deepEqual(later.steps[0].items, paused);
      assert.ok(paused.completed < 8, JSON.stringify(paused));

      assert.equal((await server.request('POST', `/executions/${id}/resume`)).status, 200);
      const done = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      for (let item = 1; item <= 8; item += 1) assert.equal(calls.get(`p${item}`), 1, `item ${item} ran once`);
    });

    it('retry from the step re-runs only its failed and cancelled items', async () => {
      calls.clear();
      const id = await runAdhoc(server, {
        name: 'retry',
        steps: [
          {
            id: 'each',
            type: 'http',
            for_each: [1, 2, 3, 4, 5],
            concurrency: 1,
            retry: { max_attempts: 1 },
            input: { url: `${fixture.url}/{{ item = 3 ? 'once' : 'item' }}?i=r{{ item }}` },
          },
        ],
      });
      const failed = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(failed.status, 'failed');
      assert.deepEqual(failed.steps[0].items, {
        total: 5,
        pending: 0,
        running: 0,
        completed: 2,
        failed: 1,
        cancelled: 2,
      });

      const retried = await server.request('POST', `/executions/${id}/retry`, { body: { from_step: 'each' } });
      assert.equal(retried.status, 200, retried.text);
      const done = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      assert.deepEqual(
        stepOf(done, 'each').output.map((output: { body: { i: string } }) => output.body.i),
        ['r1', 'r2', 'r3', 'r4', 'r5'],
      );
      assert.deepEqual(
        [1, 2, 3, 4, 5].map((item) => calls.get(`r${item}`)),
        [1, 1, 2, 1, 1],
      );
    });

    it('rejects bad for_each fields with 400 and the path', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ for_each: 'not a template' }, '/steps/0/for_each'],
        [{ for_each: 5 }, '/steps/0/for_each'],
        [{ for_each: [1], concurrency: 0 }, '/steps/0/concurrency'],
        [{ for_each: [1], concurrency: 1001 }, '/steps/0/concurrency'],
        [{ for_each: [1], tolerated_failures: -1 }, '/steps/0/tolerated_failures'],
        [{ for_each: [1], tolerated_failure_percent: 101 }, '/steps/0/tolerated_failure_percent'],
        [{ concurrency: 2 }, '/steps/0/concurrency'],
      ];
      for (const [fields, path] of cases) {
        const response = await server.request('POST', '/workflows', {
          body: { name: 'bad', steps: [{ id: 'each', type: 'noop', ...fields }] },
        });
        assertProblem(response, 400, 'DEFINITION_INVALID');
        const paths = response.body.errors.map((error: { path: string }) => error.path);
        assert.ok(paths.includes(path), `${JSON.stringify(fields)}: ${JSON.stringify(response.body.errors)}`);
      }
    });
  });
}
