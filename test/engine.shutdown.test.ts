import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Engine } from '../src/engine/engine.js';
import { adhocStartRequest, startExecution } from '../src/engine/lifecycle.js';
import type { Store } from '../src/store/store.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';
import { defineTask } from '../src/tasks/task-type.js';
import { createTestDatabase, type TestDatabase, testBackends } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';

/**
 * Stopping the engine: once `stop` has returned nothing is claimed, run or written any more, so the
 * store can be closed and the process exits by itself (a leaked retry loop kept test files alive).
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A logger whose entries the test reads. */
function capturedLogger() {
  const entries: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim() !== '') entries.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), entries };
}

for (const backend of testBackends()) {
  describe(`engine shutdown (${backend})`, () => {
    let database: TestDatabase;
    let store: Store;
    let workspaceId: string;
    before(async () => {
      database = await createTestDatabase(backend);
      store = database.open();
      await store.migrate();
      workspaceId = (await store.workspaces.create({ slug: 'stop', name: 'Stop' })).id;
    });
    after(async () => {
      await store.close();
      await database.drop();
    });

    const engineOn = (engineStore: Store, taskTypes = new TaskTypeRegistry(), logger = pino({ level: 'silent' })) =>
      new Engine({
        store: engineStore,
        taskTypes,
        logger,
        config: { llmBaseUrl: undefined, llmApiKey: undefined },
        pollMs: 50,
      });

    it('claims and writes nothing after stop returns, also when a claim was under way at the stop', async () => {
      // The claim loop starts a turn after a wake; stopping a few turns later catches it mid-claim.
      for (let turns = 0; turns < 8; turns += 1) {
        const engine = engineOn(store);
        await engine.start();
        const execution = await startExecution(
          store,
          adhocStartRequest(workspaceId, { name: `stop ${turns}`, steps: [{ id: 'a', type: 'noop' }] }),
        );
        engine.wake();
        for (let turn = 0; turn < turns; turn += 1) await new Promise((resolve) => setImmediate(resolve));
        await engine.stop(1000);
        const atStop = await store.steps.list(execution.id);
        await sleep(150);
        assert.deepEqual(
          await store.steps.list(execution.id),
          atStop,
          `the step changed after stop returned (stopped ${turns} turns after the wake)`,
        );
        assert.ok(['queued', 'completed'].includes(atStop[0]?.status ?? ''), `status at stop: ${atStop[0]?.status}`);
      }
    });

    it('leaves an attempt that outlives stop to its lease instead of retrying it against the closed store', async () => {
      let finish: () => void = () => undefined;
      const registry = new TaskTypeRegistry();
      registry.register(
        defineTask({
          type: 'test.ignores_abort',
          description: 'ends only when the test says, whatever its signal',
          handler: () =>
            new Promise((resolve) => {
              finish = () => resolve({ done: true });
            }),
        }),
      );
      const { logger, entries } = capturedLogger();
      const own = database.open();
      const engine = engineOn(own, registry, logger);
      await engine.start();
      const execution = await startExecution(
        store,
        adhocStartRequest(workspaceId, { name: 'outlives stop', steps: [{ id: 'slow', type: 'test.ignores_abort' }] }),
      );
      engine.wake();
      await waitUntil(async () => (await store.steps.list(execution.id))[0]?.status === 'running', 'the step to run');
      await engine.stop(50);
      await own.close();
      finish();
      await sleep(800);
      const messages = entries.map((entry) => entry.msg);
      assert.ok(
        !messages.some((message) => message.includes('settling again')),
        `retried against a closed store: ${messages.join(' | ')}`,
      );
      assert.ok(
        messages.some((message) => message.includes('ended after the engine stopped')),
        messages.join(' | '),
      );
      const [step] = await store.steps.list(execution.id);
      assert.equal(step?.status, 'running', 'left to its lease, which recovery hands back to the queue');
    });

    // A timeout of its own: before the fix, stop never returned.
    it('stops within its bound while the database is gone and an outcome waits to be written', {
      timeout: 20_000,
    }, async () => {
      let finish: () => void = () => undefined;
      const registry = new TaskTypeRegistry();
      registry.register(
        defineTask({
          type: 'test.until_told',
          description: 'ends when the test says',
          handler: () =>
            new Promise((resolve) => {
              finish = () => resolve({ done: true });
            }),
        }),
      );
      const own = database.open();
      const engine = engineOn(own, registry);
      await engine.start();
      const execution = await startExecution(
        store,
        adhocStartRequest(workspaceId, { name: 'database gone', steps: [{ id: 'slow', type: 'test.until_told' }] }),
      );
      engine.wake();
      await waitUntil(async () => (await store.steps.list(execution.id))[0]?.status === 'running', 'the step to run');
      // The engine's connections go away; the outcome cannot be written and is retried.
      await own.close();
      finish();
      await sleep(100);
      const started = Date.now();
      await engine.stop(1000);
      // Ten rounds of a retry every 500 ms, then the lease is left to expire.
      assert.ok(Date.now() - started < 8000, `stop took ${Date.now() - started} ms`);
      assert.equal((await store.steps.list(execution.id))[0]?.status, 'running', 'left to its lease');
    });
  });
}
