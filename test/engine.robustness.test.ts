import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { WorkflowDefinition } from '../src/definition/definition-schema.js';
import { Engine } from '../src/engine/engine.js';
import { adhocStartRequest, startExecution } from '../src/engine/lifecycle.js';
import type { Store } from '../src/store/store.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';
import { defineTask } from '../src/tasks/task-type.js';
import { assertProblem, startTestServer, type TestServer } from './helpers/api-server.js';
import { createTestDatabase, type TestDatabase, testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution, waitUntil } from './helpers/http-fixtures.js';

/** Edge cases of the engine: resets that leave nothing to run, bad outputs, shutdowns. */

const noop = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'noop', ...extra });

/** Task types only these tests use: one that outputs a BigInt, one that runs until aborted. */
function testRegistry(): TaskTypeRegistry {
  const registry = new TaskTypeRegistry();
  registry.register(
    defineTask({ type: 'test.bigint', description: 'outputs a BigInt', handler: async () => ({ n: 1n }) }),
  );
  registry.register(
    defineTask({
      type: 'test.until_aborted',
      description: 'runs until its signal aborts',
      handler: (_input, { signal }) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        ),
    }),
  );
  return registry;
}

async function startAdhoc(store: Store, workspaceId: string, definition: WorkflowDefinition) {
  return startExecution(store, adhocStartRequest(workspaceId, definition));
}

async function waitForStatus(store: Store, id: string, statuses: string[]) {
  await waitUntil(
    async () => statuses.includes((await store.executions.getById(id))?.status ?? ''),
    `execution ${id} to be ${statuses}`,
  );
  return store.executions.getById(id);
}

for (const backend of testBackends()) {
  describe(`engine edge cases through the API (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
    });
    after(() => server.close());

    it('finishes an execution whose retry leaves nothing to run, and refuses an empty retry of a completed one', async () => {
      const id = await runAdhoc(server, {
        name: 'nothing to rerun',
        stop_on_failure: false,
        steps: [
          { id: 'a', type: 'transform', input: { expression: '$error("no")' } },
          noop('b', { depends_on: ['a'] }),
        ],
      });
      await waitForExecution(server, id, ['failed']);
      const retried = await server.request('POST', `/executions/${id}/retry`, { body: { from_step: 'b' } });
      assert.equal(retried.status, 200);
      const again = await waitForExecution(server, id, ['failed', 'completed'], 5000);
      assert.equal(again.status, 'failed', 'b is skipped again because a failed; the execution ends');
      assert.equal(stepOf(again, 'b').status, 'skipped');

      const done = await runAdhoc(server, { name: 'done', steps: [noop('a')] });
      await waitForExecution(server, done, ['completed']);
      assertProblem(await server.request('POST', `/executions/${done}/retry`), 409, 'CONFLICT');
    });

    it('counts the workflow timeout again from a retry', async () => {
      const id = await runAdhoc(server, {
        name: 'timeout then retry',
        timeout_seconds: 0.5,
        steps: [{ id: 'wait', type: 'delay', input: { seconds: 5 } }, noop('after', { depends_on: ['wait'] })],
      });
      await waitForExecution(server, id, ['failed']);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const retried = await server.request('POST', `/executions/${id}/retry`, { body: { from_step: 'after' } });
      assert.equal(retried.status, 200);
      const status = await server.request('GET', `/executions/${id}/status`);
      assert.notEqual(status.body.status, 'failed', 'the old deadline does not fail the retried execution at once');
    });
  });

  describe(`engine outcomes and shutdown (${backend})`, () => {
    let database: TestDatabase;
    let store: Store;
    let workspaceId: string;
    before(async () => {
      database = await createTestDatabase(backend);
      store = database.open();
      await store.migrate();
      workspaceId = (await store.workspaces.create({ slug: 'edge', name: 'Edge' })).id;
    });
    after(async () => {
      await store.close();
      await database.drop();
    });

    it('fails a step whose output is not JSON without holding back other executions', async () => {
      const engine = new Engine({
        store,
        taskTypes: testRegistry(),
        logger: pino({ level: 'silent' }),
        config: { llmBaseUrl: undefined, llmApiKey: undefined },
        pollMs: 50,
      });
      await engine.start();
      try {
        const bad = await startAdhoc(store, workspaceId, {
          name: 'bigint',
          steps: [{ id: 'big', type: 'test.bigint' }],
        });
        const good = await startAdhoc(store, workspaceId, {
          name: 'fine',
          steps: [noop('a'), noop('b', { depends_on: ['a'] })],
        });
        engine.wake();
        assert.equal((await waitForStatus(store, good.id, ['completed', 'failed']))?.status, 'completed');
        const failed = await waitForStatus(store, bad.id, ['completed', 'failed']);
        assert.equal(failed?.status, 'failed');
        const [step] = await store.steps.list(bad.id);
        assert.match(step?.error ?? '', /not JSON/);
      } finally {
        await engine.stop(500);
      }
    });

    it('gives running steps back to the queue on shutdown; another process finishes them', async () => {
      const first = new Engine({
        store,
        taskTypes: testRegistry(),
        logger: pino({ level: 'silent' }),
        config: { llmBaseUrl: undefined, llmApiKey: undefined },
        pollMs: 50,
      });
      await first.start();
      const execution = await startAdhoc(store, workspaceId, {
        name: 'interrupted',
        steps: [
          { id: 'long', type: 'test.until_aborted', timeout_seconds: 0.8, retry: { max_attempts: 2, delay_ms: 10 } },
        ],
      });
      first.wake();
      await waitUntil(async () => (await store.steps.list(execution.id))[0]?.status === 'running', 'the step to run');
      await first.stop(100);
      const [released] = await store.steps.list(execution.id);
      assert.equal(released?.status, 'queued', 'interrupted, not failed');
      assert.equal((await store.executions.getById(execution.id))?.status, 'running');
      const attempts = await store.executionLog.attempts(execution.id);
      assert.deepEqual(
        attempts.map((attempt) => attempt.status),
        ['interrupted'],
      );

      const second = new Engine({
        store,
        taskTypes: testRegistry(),
        logger: pino({ level: 'silent' }),
        config: { llmBaseUrl: undefined, llmApiKey: undefined },
        pollMs: 50,
      });
      await second.start();
      try {
        // The retry budget was not used by the interruption: two timed-out attempts follow.
        const ended = await waitForStatus(store, execution.id, ['failed', 'completed']);
        assert.equal(ended?.status, 'failed');
        const statuses = (await store.executionLog.attempts(execution.id)).map((attempt) => attempt.status);
        assert.deepEqual(statuses, ['interrupted', 'failed', 'failed']);
      } finally {
        await second.stop(500);
      }
    });
  });
}
