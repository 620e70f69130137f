import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Engine } from '../src/engine/engine.js';
import type { Store } from '../src/store/store.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';
import { defineTask } from '../src/tasks/task-type.js';
import { assertProblem, createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution } from './helpers/http-fixtures.js';

/**
 * The worker protocol over HTTP, call by call, as a worker written in any language sees it:
 * declared types in validation, poll, heartbeat, complete, fail, release, lost leases, cancel.
 * (Real worker processes are in workers.processes.test.ts.)
 */

const GENERATE_SCHEMAS = {
  description: 'Generates an image from a prompt',
  input_schema: { type: 'object', required: ['prompt'], properties: { prompt: { type: 'string' } } },
  output_schema: {
    type: 'object',
    additionalProperties: false,
    properties: { url: { type: 'string' }, width: { type: 'integer' } },
  },
};

for (const backend of testBackends()) {
  describe(`worker protocol (${backend})`, () => {
    let server: TestServer;
    let worker: string;

    const poll = (types: string[], extra: Record<string, unknown> = {}) =>
      server.request('POST', '/tasks/poll', { key: worker, body: { worker_id: 'w1', types, ...extra } });
    const call = (taskId: string, action: string, body: unknown = {}) =>
      server.request('POST', `/tasks/${taskId}/${action}`, { key: worker, body });

    before(async () => {
      server = await startTestServer(backend, { leaseMs: 2000 });
      worker = await createKey(server, 'worker');
    });
    after(() => server.close());

    it('declares task types that validation then knows, with their schemas', async () => {
      const undeclared = await server.request('POST', '/workflows/validate', {
        body: { name: 'x', steps: [{ id: 'gen', type: 'image.generate', input: { prompt: 'a cat' } }] },
      });
      assert.equal(undeclared.body.valid, false);
      assert.match(JSON.stringify(undeclared.body.errors), /image\.generate/);

      const declared = await server.request('PUT', '/task-types/image.generate', {
        key: worker,
        body: GENERATE_SCHEMAS,
      });
      assert.equal(declared.status, 200, declared.text);
      assert.equal(declared.body.source, 'declared');
      assert.equal(declared.body.lease_seconds, 30);
      assert.deepEqual(declared.body.input_schema, GENERATE_SCHEMAS.input_schema);

      const list = await server.request('GET', '/task-types', { key: worker });
      const byType = new Map(list.body.items.map((item: { type: string }) => [item.type, item]));
      assert.equal((byType.get('http') as { source: string }).source, 'builtin');
      assert.equal((byType.get('image.generate') as { source: string }).source, 'declared');

      const missingInput = await server.request('POST', '/workflows', {
        body: { name: 'x', steps: [{ id: 'gen', type: 'image.generate', input: {} }] },
      });
      assertProblem(missingInput, 400, 'DEFINITION_INVALID');
      assert.ok(missingInput.body.errors.some((error: { path: string }) => error.path.startsWith('/steps/0/input')));

      const unknownField = await server.request('POST', '/workflows', {
        body: {
          name: 'x',
          steps: [
            { id: 'gen', type: 'image.generate', input: { prompt: 'a cat' } },
            { id: 'use', type: 'noop', input: { height: '{{ steps.gen.output.height }}' } },
          ],
        },
      });
      assertProblem(unknownField, 400, 'DEFINITION_INVALID');
      assert.match(JSON.stringify(unknownField.body.errors), /height/);

      assertProblem(await server.request('PUT', '/task-types/http', { key: worker, body: {} }), 409, 'CONFLICT');
      const badSchema = await server.request('PUT', '/task-types/bad.schema', {
        body: { input_schema: { type: 'no-such-type' } },
      });
      assertProblem(badSchema, 400, 'VALIDATION_FAILED');
      assert.ok(badSchema.body.errors.some((error: { path: string }) => error.path.startsWith('/input_schema')));
      assertProblem(await server.request('PUT', '/task-types/9bad', { body: {} }), 400, 'VALIDATION_FAILED');
    });

    it('lets worker keys use the task routes only', async () => {
      assertProblem(await server.request('GET', '/workflows', { key: worker }), 403, 'FORBIDDEN');
      assertProblem(await server.request('POST', '/executions', { key: worker, body: {} }), 403, 'FORBIDDEN');
      assert.equal((await poll(['image.generate'])).status, 200);
    });

    it('hands a step to a worker with its rendered input, and its output to the next step', async () => {
      await server.request('PUT', '/task-types/image.refine', { key: worker, body: { description: 'Refines' } });
      const id = await runAdhoc(
        server,
        {
          name: 'generate then refine',
          steps: [
            { id: 'generate', type: 'image.generate', input: { prompt: '{{ input.prompt }}' } },
            {
              id: 'refine',
              type: 'image.refine',
              depends_on: ['generate'],
              input: { strength: 0.5 },
              input_mappings: [{ from_step: 'generate', from_field: 'url', to_field: 'image_url' }],
            },
            { id: 'report', type: 'noop', input: { final: '{{ steps.refine.output.url }}' } },
          ],
          output: '{{ steps.report.output }}',
        },
        { prompt: 'a red fox' },
      );
      const first = await poll(['image.generate', 'image.refine'], { wait_seconds: 5 });
      assert.equal(first.status, 200, first.text);
      const [generate] = first.body.tasks;
      assert.equal(generate.execution_id, id);
      assert.equal(generate.step_id, 'generate');
      assert.equal(generate.type, 'image.generate');
      assert.equal(generate.attempt, 1);
      assert.deepEqual(generate.input, { prompt: 'a red fox' });
      assert.ok(Date.parse(generate.lease_expires_at) > Date.now());

      const beat = await call(generate.id, 'heartbeat');
      assert.equal(beat.status, 200, beat.text);
      assert.equal(beat.body.cancel_requested, false);
      // While it runs, the timeline names its worker by worker_id (not the internal lease owner).
      const running = await server.request('GET', `/executions/${id}/timeline`);
      assert.equal(running.status, 200, running.text);
      assert.deepEqual(
        running.body.items
          .filter((item: { step_id: string }) => item.step_id === 'generate')
          .map((item: { attempt: number; status: string; worker: string | null }) => [
            item.attempt,
            item.status,
            item.worker,
          ]),
        [[1, 'running', 'w1']],
      );
      const done = await call(generate.id, 'complete', { output: { url: 'http://img/1.png', width: 512 } });
      assert.equal(done.status, 200, done.text);
      assert.equal(done.body.status, 'completed');
      assertProblem(await call(generate.id, 'complete', { output: {} }), 409, 'LEASE_LOST');

      const second = await poll(['image.refine'], { wait_seconds: 5 });
      const [refine] = second.body.tasks;
      assert.deepEqual(refine.input, { strength: 0.5, image_url: 'http://img/1.png' });
      assert.equal((await call(refine.id, 'complete', { output: { url: 'http://img/1-refined.png' } })).status, 200);

      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      assert.deepEqual(execution.output, { final: 'http://img/1-refined.png' });
      const timeline = await server.request('GET', `/executions/${id}/timeline`);
      const generated = timeline.body.items.find((item: { step_id: string }) => item.step_id === 'generate');
      assert.equal(generated.worker, 'w1');
    });

    it('wakes a waiting poll as soon as a step is queued', async () => {
      await server.request('PUT', '/task-types/wake.test', { key: worker, body: {} });
      const started = Date.now();
      const waiting = poll(['wake.test'], { wait_seconds: 20 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const id = await runAdhoc(server, { name: 'wake', steps: [{ id: 'only', type: 'wake.test' }] });
      const response = await waiting;
      assert.equal(response.body.tasks[0]?.execution_id, id);
      assert.ok(Date.now() - started < 10_000, 'the poll returned long before its 20 s');
      await call(response.body.tasks[0].id, 'complete', { output: { ok: true } });
      assert.equal((await waitForExecution(server, id, ['completed'])).status, 'completed');
    });

    it('returns no tasks after wait_seconds when none comes, and rejects bad polls', async () => {
      const started = Date.now();
      const empty = await poll(['nothing.here'], { wait_seconds: 0.3 });
      assert.deepEqual(empty.body, { tasks: [] });
      assert.ok(Date.now() - started >= 250);
      assertProblem(await poll(['x'], { wait_seconds: 31 }), 400, 'VALIDATION_FAILED');
      assertProblem(await poll([]), 400, 'VALIDATION_FAILED');
      assertProblem(await call('task_nope', 'heartbeat'), 404, 'NOT_FOUND');
      assertProblem(await call('not-a-task', 'complete', { output: 1 }), 404, 'NOT_FOUND');
    });

    it('retries a failed attempt, then runs the fallback of another type', async () => {
      await server.request('PUT', '/task-types/flaky.primary', { key: worker, body: {} });
      await server.request('PUT', '/task-types/steady.backup', { key: worker, body: {} });
      const id = await runAdhoc(server, {
        name: 'fallback',
        steps: [
          {
            id: 'make',
            type: 'flaky.primary',
            input: { n: 1 },
            retry: { max_attempts: 2, backoff: 'fixed', delay_ms: 100 },
            fallback: { type: 'steady.backup', input: { n: 2 } },
          },
        ],
      });
      for (const attempt of [1, 2]) {
        const [task] = (await poll(['flaky.primary'], { wait_seconds: 5 })).body.tasks;
        assert.equal(task.attempt, attempt);
        const failed = await call(task.id, 'fail', { error: { message: `boom ${attempt}` } });
        assert.equal(failed.body.status, 'queued');
      }
      const [backup] = (await poll(['steady.backup'], { wait_seconds: 5 })).body.tasks;
      assert.equal(backup.type, 'steady.backup');
      assert.deepEqual(backup.input, { n: 2 });
      await call(backup.id, 'complete', { output: { from: 'backup' } });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed');
      assert.equal(stepOf(execution, 'make').used_fallback, true);
      assert.deepEqual(stepOf(execution, 'make').output, { from: 'backup' });
    });

    it('fails a step at once on a non-retryable failure', async () => {
      const id = await runAdhoc(server, {
        name: 'fatal',
        steps: [{ id: 'make', type: 'flaky.primary', retry: { max_attempts: 3 } }],
      });
      const [task] = (await poll(['flaky.primary'], { wait_seconds: 5 })).body.tasks;
      const failed = await call(task.id, 'fail', { error: { message: 'bad prompt', retryable: false } });
      assert.equal(failed.body.status, 'failed');
      const execution = await waitForExecution(server, id, ['failed']);
      assert.equal(stepOf(execution, 'make').attempts, 1);
      assert.equal(stepOf(execution, 'make').error.message, 'bad prompt');
    });

    it('takes back an expired lease as a failed attempt; the late complete is a 409', async () => {
      await server.request('PUT', '/task-types/short.lease', { key: worker, body: { lease_seconds: 1 } });
      const id = await runAdhoc(server, {
        name: 'lease',
        steps: [{ id: 'work', type: 'short.lease', retry: { max_attempts: 2, backoff: 'fixed', delay_ms: 100 } }],
      });
      const [lost] = (await poll(['short.lease'], { wait_seconds: 5 })).body.tasks;
      assert.equal(lost.lease_seconds, 1);
      // No heartbeat: the sweep takes the lease back and the step is queued for attempt 2.
      const [again] = (await poll(['short.lease'], { wait_seconds: 10 })).body.tasks;
      assert.equal(again.attempt, 2);
      assertProblem(await call(lost.id, 'complete', { output: { late: true } }), 409, 'LEASE_LOST');
      assertProblem(await call(lost.id, 'heartbeat'), 409, 'LEASE_LOST');
      await call(again.id, 'complete', { output: { on_time: true } });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed');
      assert.deepEqual(stepOf(execution, 'work').output, { on_time: true });
      const timeline = await server.request('GET', `/executions/${id}/timeline`);
      const first = timeline.body.items.find((item: { attempt: number }) => item.attempt === 1);
      assert.match(first.error.message, /lease expired/);
    });

    it('answers cancel_requested after a cancel, and refuses the outcome', async () => {
      const id = await runAdhoc(server, { name: 'cancel', steps: [{ id: 'work', type: 'image.refine' }] });
      const [task] = (await poll(['image.refine'], { wait_seconds: 5 })).body.tasks;
      assert.equal((await server.request('POST', `/executions/${id}/cancel`)).status, 200);
      const beat = await call(task.id, 'heartbeat');
      assert.equal(beat.status, 200);
      assert.equal(beat.body.cancel_requested, true);
      assertProblem(await call(task.id, 'complete', { output: {} }), 409, 'LEASE_LOST');
      const execution = await waitForExecution(server, id, ['cancelled']);
      assert.equal(stepOf(execution, 'work').status, 'cancelled');
    });

    it('releases a task back to the queue without using up an attempt', async () => {
      const id = await runAdhoc(server, {
        name: 'release',
        steps: [{ id: 'work', type: 'image.refine', retry: { max_attempts: 1 } }],
      });
      const [task] = (await poll(['image.refine'], { wait_seconds: 5 })).body.tasks;
      const released = await call(task.id, 'release');
      assert.equal(released.body.status, 'queued');
      const [again] = (await poll(['image.refine'], { wait_seconds: 5 })).body.tasks;
      assert.equal(again.execution_id, id);
      await call(again.id, 'complete', { output: 'ok' });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed');
    });

    it('settles tasks of steps with the longest ids', async () => {
      const stepId = `s${'x'.repeat(63)}`;
      const id = await runAdhoc(server, { name: 'long ids', steps: [{ id: stepId, type: 'image.refine' }] });
      const [task] = (await poll(['image.refine'], { wait_seconds: 5 })).body.tasks;
      assert.equal(task.step_id, stepId);
      assert.equal((await call(task.id, 'heartbeat')).status, 200);
      assert.equal((await call(task.id, 'complete', { output: 1 })).status, 200);
      assert.equal((await waitForExecution(server, id, ['completed', 'failed'])).status, 'completed');
      assertProblem(await call(`task_${'a'.repeat(500)}`, 'heartbeat'), 400, 'VALIDATION_FAILED');
    });

    it('refuses polls for types the server runs itself', async () => {
      const refused = await poll(['image.refine', 'http']);
      assertProblem(refused, 400, 'VALIDATION_FAILED');
      assert.equal(refused.body.errors[0].path, '/types/1');
    });

    it('skips a worker step whose `when` is false without handing it out', async () => {
      const id = await runAdhoc(
        server,
        {
          name: 'when',
          steps: [{ id: 'work', type: 'image.refine', when: '{{ input.go }}' }],
        },
        { go: false },
      );
      const empty = await poll(['image.refine'], { wait_seconds: 1 });
      assert.deepEqual(empty.body.tasks, []);
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(stepOf(execution, 'work').status, 'skipped');
    });
  });
}

describe('which types the engine runs', () => {
  it('leaves a plugin type without a handler to workers, and keeps built-ins', () => {
    const registry = new TaskTypeRegistry();
    registry.register(defineTask({ type: 'plugin.schema_only', description: 'declared by a plugin, run by workers' }));
    registry.register(defineTask({ type: 'plugin.local', description: 'runs here', handler: async () => 1 }));
    const engine = new Engine({
      store: {} as Store,
      taskTypes: registry,
      logger: pino({ level: 'silent' }),
      config: { llmBaseUrl: undefined, llmApiKey: undefined },
    });
    assert.equal(engine.claimsType('plugin.schema_only'), false);
    assert.equal(engine.claimsType('plugin.local'), true);
    assert.equal(engine.claimsType('http'), true);
    assert.equal(engine.claimsType('wait_for_signal'), true);
    assert.equal(engine.claimsType('declared.elsewhere'), false);
  });
});
