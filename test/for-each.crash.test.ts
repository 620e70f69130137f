import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestDatabase, postgresOnly, testBackends } from './helpers/backends.js';
import { startFixtureServer, waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe, startServes } from './helpers/processes.js';
import { api, serveEnv } from './helpers/serve-restarts.js';

/**
 * `for_each` items with real `weft serve` processes: SIGKILLed mid-way and restarted (no completed
 * item runs again, nothing stays stuck), and several processes sharing PostgreSQL (the step's
 * concurrency holds across them, counted in flight at a loopback server).
 */

/** A recorder of item calls: each POST names its execution and index; it counts calls in flight. */
async function startRecorder(delayMs: number) {
  const calls = new Map<string, number>();
  const flight = { now: 0, max: 0 };
  /** Calls in flight per execution now, and the most at once per execution. */
  const perExecution = new Map<string, { now: number; max: number }>();
  const server = await startFixtureServer(async ({ body }) => {
    const { execution, index } = body as { execution: string; index: number };
    const key = `${execution}/${index}`;
    calls.set(key, (calls.get(key) ?? 0) + 1);
    const mine = perExecution.get(execution) ?? { now: 0, max: 0 };
    perExecution.set(execution, mine);
    flight.now += 1;
    mine.now += 1;
    flight.max = Math.max(flight.max, flight.now);
    mine.max = Math.max(mine.max, mine.now);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    flight.now -= 1;
    mine.now -= 1;
    return { json: { index } };
  });
  return { server, calls, flight, perExecution };
}

function itemsDefinition(url: string, count: number, concurrency: number) {
  return {
    name: 'items',
    steps: [
      {
        id: 'each',
        type: 'http',
        for_each: `{{ [1..${count}] }}`,
        concurrency,
        input: { url: `${url}/item`, method: 'POST', body: { execution: '{{ execution.id }}', index: '{{ index }}' } },
      },
      { id: 'after', type: 'noop', input: { n: '{{ $count(steps.each.output) }}' } },
    ],
    output: '{{ steps.each.output.body.index }}',
  };
}

/** Every item page of a step. */
async function allItems(url: string, id: string) {
  const items: Array<{ index: number; status: string; attempts: number }> = [];
  let cursor: string | null = null;
  do {
    const page = await api(
      url,
      'GET',
      `/executions/${id}/steps/each/items?limit=200${cursor ? `&cursor=${cursor}` : ''}`,
    );
    items.push(...page.body.items);
    cursor = page.body.next_cursor;
  } while (cursor);
  return items;
}

for (const backend of testBackends()) {
  describe(`for_each with processes (${backend})`, () => {
    it('finishes the items after kill -9 and a restart; completed items never run again', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      const recorder = await startRecorder(40);
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(serveEnv(database));
        const started = await api(serve.url, 'POST', '/executions', {
          definition: itemsDefinition(recorder.server.url, 60, 5),
        });
        assert.equal(started.status, 202, started.text);
        const id = started.body.id as string;
        await waitUntil(() => recorder.calls.size >= 15, 'some items to run before the kill', 20_000);
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        assert.ok(recorder.calls.size < 60, 'the kill came mid-way');

        serve = await startServe(serveEnv(database));
        const url = serve.url;
        await waitUntil(
          async () => ['completed', 'failed'].includes((await api(url, 'GET', `/executions/${id}`)).body.status),
          'the execution to end',
          25_000,
        );
        const execution = (await api(url, 'GET', `/executions/${id}`)).body;
        assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
        assert.deepEqual(
          execution.output,
          Array.from({ length: 60 }, (_, index) => index),
        );
        const items = await allItems(url, id);
        assert.equal(items.length, 60);
        for (const item of items) {
          const ran = recorder.calls.get(`${id}/${item.index}`) ?? 0;
          assert.equal(item.status, 'completed');
          assert.ok(ran >= 1, `item ${item.index} never ran`);
          assert.ok(ran <= item.attempts, `item ${item.index} ran ${ran} times in ${item.attempts} attempts`);
        }
      } finally {
        await serve?.stop('SIGKILL');
        await recorder.server.close();
        await database.drop();
      }
    });

    it(
      'keeps item concurrency exact across three processes on one database',
      postgresOnly(backend, 'several processes share PostgreSQL only'),
      async () => {
        const database = await createTestDatabase(backend, { migrated: true });
        // 60 ms a call: 40 items, four at a time, keep each execution going for 0.6 s or more, so the
        // three overlap even when a loaded machine is slow to pick one up (at 30 ms, one run saw
        // them one after the other).
        const recorder = await startRecorder(60);
        const serves: ServeProcess[] = [];
        try {
          const nodes = ['items-a', 'items-b', 'items-c'];
          serves.push(
            ...(await startServes(
              database,
              nodes.map((node) => serveEnv(database, { WEFT_NODE_ID: node })),
            )),
          );
          const [first] = serves;
          assert.ok(first);
          // Started together, one on each process.
          const ids = await Promise.all(
            [0, 1, 2].map(async (index) => {
              const started = await api(serves[index]?.url ?? first.url, 'POST', '/executions', {
                definition: itemsDefinition(recorder.server.url, 40, 4),
              });
              assert.equal(started.status, 202, started.text);
              return started.body.id as string;
            }),
          );
          await waitUntil(
            async () => {
              for (const id of ids) {
                const status = (await api(first.url, 'GET', `/executions/${id}`)).body.status;
                if (status !== 'completed' && status !== 'failed') return false;
              }
              return true;
            },
            'the executions to end',
            40_000,
          );
          for (const id of ids) {
            const execution: { status: string; error: unknown } = (await api(first.url, 'GET', `/executions/${id}`))
              .body;
            assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
            for (let index = 0; index < 40; index += 1) assert.equal(recorder.calls.get(`${id}/${index}`), 1);
          }
          // Concurrency 4 per step, whichever process runs its items; several side by side.
          for (const id of ids) {
            const max = recorder.perExecution.get(id)?.max ?? 0;
            assert.ok(max <= 4, `${id}: at most 4 items at once, saw ${max}`);
            assert.ok(max >= 2, `${id}: items ran side by side, saw ${max}`);
          }
          assert.ok(recorder.flight.max > 4, `the executions ran side by side, saw ${recorder.flight.max}`);
        } finally {
          for (const serve of serves) await serve.stop('SIGKILL');
          await recorder.server.close();
          await database.drop();
        }
      },
    );
  });
}
