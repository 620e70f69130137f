import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { completeBodyLimit } from '../src/api/task-routes.js';
import { assertProblem, createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution } from './helpers/http-fixtures.js';

/**
 * The output cap (SPEC §3, WEFT_MAX_OUTPUT_BYTES, docs/limits.md): a step, item or execution
 * output over it fails without retry, naming its size, the cap and artifacts; a worker's
 * `complete` over it answers 413 and fails the attempt the same way, while the other JSON routes
 * keep WEFT_BODY_LIMIT_BYTES. A small cap keeps the outputs small.
 */

const CAP = 10 * 1024;
/** Below the complete route's limit (the cap plus slack), so that route's own limit can be tested. */
const BODY_LIMIT = 32 * 1024;
const RETRY = { max_attempts: 3, backoff: 'fixed', delay_ms: 10 };

/** The size the engine measures: the bytes of the JSON text it stores. */
const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
const grouped = (value: number) => value.toLocaleString('en-US');
/** The message of an output over the cap, for `what` of `value`. */
const overCap = (what: string, value: unknown) =>
  new RegExp(
    `^${what} is ${grouped(jsonBytes(value))} bytes, over WEFT_MAX_OUTPUT_BYTES \\(${grouped(CAP)}\\): ` +
      'store large results as artifacts \\(PUT /executions/[^/]+/artifacts/\\{name\\}\\)',
  );

/** A `transform` step outputting `value` (passed through the execution input). */
const echo = (id: string, field: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'transform',
  input: { expression: '$', data: `{{ input.${field} }}` },
  ...extra,
});

for (const backend of testBackends()) {
  describe(`output cap (${backend})`, () => {
    let server: TestServer;
    let worker: string;

    before(async () => {
      server = await startTestServer(backend, { maxOutputBytes: CAP, bodyLimitBytes: BODY_LIMIT, pollIntervalMs: 100 });
      worker = await createKey(server, 'worker');
      const declared = await server.request('PUT', '/task-types/cap.big', { key: worker, body: {} });
      assert.equal(declared.status, 200, declared.text);
    });
    after(() => server.close());

    const timelineOf = async (id: string) => {
      const timeline = await server.request('GET', `/executions/${id}/timeline`);
      assert.equal(timeline.status, 200, timeline.text);
      return timeline.body.items as Array<{ step_id: string; attempt: number; status: string; error: unknown }>;
    };

    it('fails a step whose output is over the cap once, without retry, naming size, cap and artifacts', async () => {
      // 6,000 characters but 12,002 bytes: the cap counts UTF-8 bytes.
      const big = 'é'.repeat(6000);
      const id = await runAdhoc(server, { name: 'big step', steps: [echo('big', 'big', { retry: RETRY })] }, { big });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'failed');
      const step = stepOf(execution, 'big');
      assert.equal(step.status, 'failed');
      assert.equal(step.attempts, 1);
      assert.equal(step.output, null);
      assert.equal(step.error.code, 'OUTPUT_TOO_LARGE');
      assert.equal(step.error.retryable, false);
      assert.match(step.error.message, overCap('step output', big));
      assert.ok(step.error.message.includes(`/executions/${id}/artifacts/`));
      const attempts = (await timelineOf(id)).filter((entry) => entry.step_id === 'big');
      assert.deepEqual(
        attempts.map((entry) => entry.status),
        ['failed'],
      );
    });

    it('runs the fallback after an output over the cap, as after any failure that is not retried', async () => {
      const id = await runAdhoc(
        server,
        {
          name: 'big step, fallback',
          steps: [echo('big', 'big', { retry: RETRY, fallback: { type: 'noop', input: { small: true } } })],
        },
        { big: 'x'.repeat(CAP) },
      );
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      const step = stepOf(execution, 'big');
      assert.equal(step.used_fallback, true);
      assert.equal(step.attempts, 2);
      assert.deepEqual(step.output, { small: true });
    });

    it('completes steps and executions under the cap', async () => {
      const small = 'x'.repeat(CAP - 100);
      const id = await runAdhoc(
        server,
        { name: 'small', steps: [echo('small', 'small', { retry: RETRY })], output: '{{ steps.small.output }}' },
        { small },
      );
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.error));
      assert.equal(stepOf(execution, 'small').output, small);
      assert.equal(execution.output, small);
    });

    it('fails an execution whose output is over the cap, its steps under it completed', async () => {
      const half = 'x'.repeat(CAP / 2 + 100);
      const output = { a: '{{ steps.a.output }}', b: '{{ steps.b.output }}' };
      const id = await runAdhoc(
        server,
        { name: 'big output', steps: [echo('a', 'half'), echo('b', 'half')], output },
        { half },
      );
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'failed');
      assert.equal(stepOf(execution, 'a').status, 'completed');
      assert.equal(stepOf(execution, 'b').status, 'completed');
      assert.equal(execution.output, null);
      assert.equal(execution.error.code, 'OUTPUT_TOO_LARGE');
      assert.match(execution.error.message, overCap('execution output', { a: half, b: half }));
    });

    it('fails a for_each item over the cap without retry, and a step whose items together are over it', async () => {
      const big = 'x'.repeat(CAP);
      const each = (list: string[]) =>
        runAdhoc(
          server,
          {
            name: 'each',
            steps: [
              {
                id: 'each',
                type: 'transform',
                for_each: '{{ input.list }}',
                input: { expression: '$', data: '{{ item }}' },
                retry: RETRY,
                tolerated_failures: 1,
              },
            ],
          },
          { list },
        );
      const itemsOf = async (id: string) => {
        const items = await server.request('GET', `/executions/${id}/steps/each/items`);
        assert.equal(items.status, 200, items.text);
        return items.body.items as Array<{ index: number; status: string; attempts: number; error: { code?: string } }>;
      };

      // One item over the cap fails once (tolerated); the others complete.
      const one = await each(['a', big, 'c']);
      const tolerated = await waitForExecution(server, one, ['completed', 'failed']);
      assert.equal(tolerated.status, 'completed', JSON.stringify(tolerated.error));
      const failedItem = (await itemsOf(one)).find((item) => item.index === 1);
      assert.equal(failedItem?.status, 'failed');
      assert.equal(failedItem?.attempts, 1);
      assert.equal(failedItem?.error.code, 'OUTPUT_TOO_LARGE');
      assert.deepEqual(stepOf(tolerated, 'each').output, ['a', null, 'c']);

      // Three items under the cap each, over it together: the step fails, its items completed.
      const third = 'y'.repeat(CAP / 2);
      const list = [third, third, third];
      const together = await each(list);
      const failed = await waitForExecution(server, together, ['completed', 'failed']);
      assert.equal(failed.status, 'failed');
      const step = stepOf(failed, 'each');
      assert.equal(step.status, 'failed');
      assert.equal(step.error.code, 'OUTPUT_TOO_LARGE');
      assert.match(step.error.message, overCap('step output \\(3 items\\)', list));
      assert.deepEqual(
        (await itemsOf(together)).map((item) => item.status),
        ['completed', 'completed', 'completed'],
      );
    });

    describe('worker complete', () => {
      const poll = async () => {
        const response = await server.request('POST', '/tasks/poll', {
          key: worker,
          body: { worker_id: 'w-cap', types: ['cap.big'], wait_seconds: 5 },
        });
        assert.equal(response.status, 200, response.text);
        assert.equal(response.body.tasks.length, 1, response.text);
        return response.body.tasks[0] as { id: string; execution_id: string };
      };
      const start = () =>
        runAdhoc(server, { name: 'worker cap', steps: [{ id: 'w', type: 'cap.big', input: {}, retry: RETRY }] });
      const complete = (taskId: string, options: { body?: unknown; rawBody?: string }) =>
        server.request('POST', `/tasks/${taskId}/complete`, {
          key: worker,
          ...options,
          headers: { 'content-type': 'application/json' },
        });
      /** The step failed without retry: one failed attempt, no task left to poll. */
      const assertFailedOnce = async (id: string, message: RegExp) => {
        const execution = await waitForExecution(server, id, ['completed', 'failed']);
        assert.equal(execution.status, 'failed');
        const step = stepOf(execution, 'w');
        assert.equal(step.status, 'failed');
        assert.equal(step.attempts, 1);
        assert.equal(step.error.code, 'OUTPUT_TOO_LARGE');
        assert.match(step.error.message, message);
        const attempts = (await timelineOf(id)).filter((entry) => entry.step_id === 'w');
        assert.deepEqual(
          attempts.map((entry) => [entry.attempt, entry.status]),
          [[1, 'failed']],
        );
        const again = await server.request('POST', '/tasks/poll', {
          key: worker,
          body: { worker_id: 'w-cap', types: ['cap.big'] },
        });
        assert.deepEqual(again.body.tasks, []);
      };

      it('answers 413 OUTPUT_TOO_LARGE for an output over the cap and fails the step without retry', async () => {
        const id = await start();
        const task = await poll();
        const output = { text: 'z'.repeat(CAP) };
        const response = await complete(task.id, { body: { output } });
        assertProblem(response, 413, 'OUTPUT_TOO_LARGE');
        assert.match(response.body.detail, overCap('step output', output));
        assert.match(response.body.detail, /the step is now 'failed'/);
        await assertFailedOnce(id, overCap('step output', output));
        // The attempt is over: a second complete is a lost lease.
        assertProblem(await complete(task.id, { body: { output: 'small' } }), 409, 'LEASE_LOST');
      });

      it('takes bodies larger than WEFT_BODY_LIMIT_BYTES up to the cap plus slack, other JSON routes do not', async () => {
        const size = BODY_LIMIT + 1024;
        assert.ok(completeBodyLimit(server.config) > size);
        const id = await start();
        const task = await poll();
        const output = 'v'.repeat(size);
        // Measured and refused as an output, not as a body.
        assertProblem(await complete(task.id, { body: { output } }), 413, 'OUTPUT_TOO_LARGE');
        await assertFailedOnce(id, overCap('step output', output));
        const start413 = await server.request('POST', '/executions', {
          body: { definition: { name: 'big input', steps: [{ id: 'a', type: 'noop' }] }, input: { output } },
        });
        assertProblem(start413, 413, 'PAYLOAD_TOO_LARGE');
      });

      it('answers 413 PAYLOAD_TOO_LARGE past the route limit and still fails the held attempt', async () => {
        const id = await start();
        const task = await poll();
        const rawBody = JSON.stringify({ output: 'w'.repeat(completeBodyLimit(server.config)) });
        const response = await complete(task.id, { rawBody });
        assertProblem(response, 413, 'PAYLOAD_TOO_LARGE');
        const size = grouped(Buffer.byteLength(rawBody));
        await assertFailedOnce(id, new RegExp(`^the complete body is ${size} bytes, over WEFT_MAX_OUTPUT_BYTES`));
      });

      it('completes with an output under the cap', async () => {
        const id = await start();
        const task = await poll();
        const output = { text: 'u'.repeat(CAP - 100) };
        const response = await complete(task.id, { body: { output } });
        assert.equal(response.status, 200, response.text);
        assert.equal(response.body.status, 'completed');
        const execution = await waitForExecution(server, id, ['completed', 'failed']);
        assert.equal(execution.status, 'completed');
        assert.deepEqual(stepOf(execution, 'w').output, output);
      });
    });
  });
}
