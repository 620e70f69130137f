import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { plainSchema } from '../src/definition/definition-schema.js';
import { createAjv } from '../src/definition/json-schema.js';
import {
  EXECUTION_FAILURE_CODES,
  ExecutionErrorSchema,
  executionError,
  readExecutionError,
} from '../src/engine/execution-error.js';
import { createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution, waitUntil } from './helpers/http-fixtures.js';

/**
 * `execution.error` has one shape whatever ended the execution (docs/errors.md, Execution errors):
 * each failure mode is produced through the API, and what `GET /executions/{id}` shows is checked
 * against the schema the OpenAPI document publishes.
 */

const checkShape = createAjv().compile(plainSchema(ExecutionErrorSchema));

/** Asserts `error` has the one shape and the code `code`; returns it for further checks. */
function assertShape(error: unknown, code: string) {
  assert.ok(checkShape(error), `${JSON.stringify(error)}: ${JSON.stringify(checkShape.errors)}`);
  // biome-ignore lint/suspicious/noExplicitAny: the cause is a step error of any type's details; tests read into it.
  const shaped = error as { code: string; message: string; step_id?: string; attempt?: number; cause?: any };
  assert.equal(shaped.code, code, JSON.stringify(error));
  assert.ok(shaped.message.length > 0);
  return shaped;
}

const failing = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'transform',
  input: { expression: '$error("told to fail")' },
  ...extra,
});

describe('execution errors read back from older rows', () => {
  it('reads the shapes written before the schema into it', () => {
    const legacy: Array<[unknown, string]> = [
      [{ message: "step 'a' failed: boom" }, 'STEP_FAILED'],
      [{ message: "step 'a' failed", step_id: 'a', cause: { message: 'boom', retryable: false } }, 'STEP_FAILED'],
      [{ message: "step 'a' was lost 6 times while it was the only step of its process" }, 'STEP_FAILED'],
      [{ message: 'the workflow timed out' }, 'EXECUTION_TIMEOUT'],
      [{ message: 'the workflow output could not be rendered: x' }, 'OUTPUT_INVALID'],
      [{ message: 'over', code: 'OUTPUT_TOO_LARGE' }, 'OUTPUT_TOO_LARGE'],
      [{ message: 'cancelled to make room', code: 'CONCURRENCY_LIMIT' }, 'CONCURRENCY_LIMIT'],
      [{ message: 'something else' }, 'EXECUTION_FAILED'],
      ['a bare string', 'EXECUTION_FAILED'],
    ];
    for (const [stored, code] of legacy) assertShape(readExecutionError(JSON.stringify(stored)), code);
    assert.equal(readExecutionError(null), null);
    assert.equal(readExecutionError(JSON.stringify({ message: "step 'a' failed: x" }))?.step_id, 'a');
  });

  it('builds every failure code in the shape', () => {
    for (const code of EXECUTION_FAILURE_CODES) assertShape(executionError(code, 'why'), code);
  });
});

for (const backend of testBackends()) {
  describe(`execution.error has one shape in every failure mode (${backend})`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250, maxOutputBytes: 4096 });
    });
    after(async () => {
      await server.close();
    });

    const failedRun = async (definition: Record<string, unknown>) => {
      const id = await runAdhoc(server, { name: 'shape', ...definition });
      return waitForExecution(server, id, ['failed', 'completed', 'cancelled']);
    };
    const createWorkflow = async (definition: Record<string, unknown>): Promise<string> => {
      const created = await server.request('POST', '/workflows', { body: definition });
      assert.equal(created.status, 201, created.text);
      return created.body.id;
    };

    it('a step that fails the execution (stop_on_failure): STEP_FAILED with the step, attempt and cause', async () => {
      const execution = await failedRun({ steps: [failing('bad', { retry: { max_attempts: 2, delay_ms: 10 } })] });
      assert.equal(execution.status, 'failed');
      const error = assertShape(execution.error, 'STEP_FAILED');
      assert.equal(error.step_id, 'bad');
      assert.equal(error.attempt, 1, 'a non-retryable failure ends at its first attempt');
      assert.match(error.message, /^step 'bad' failed: transform failed: .*told to fail/);
      assert.deepEqual(error.cause, stepOf(execution, 'bad').error);
    });

    it('a failed step without stop_on_failure: STEP_FAILED once the rest has run', async () => {
      const execution = await failedRun({
        stop_on_failure: false,
        steps: [failing('bad'), { id: 'other', type: 'noop' }],
      });
      assert.equal(execution.status, 'failed');
      assert.equal(stepOf(execution, 'other').status, 'completed');
      const error = assertShape(execution.error, 'STEP_FAILED');
      assert.equal(error.step_id, 'bad');
      assert.match(error.message, /^step 'bad' failed: transform failed/);
    });

    it('the workflow timeout: EXECUTION_TIMEOUT saying after how long', async () => {
      const execution = await failedRun({
        timeout_seconds: 0.3,
        steps: [{ id: 'wait', type: 'delay', input: { seconds: 30 } }],
      });
      assert.equal(execution.status, 'failed');
      const error = assertShape(execution.error, 'EXECUTION_TIMEOUT');
      assert.equal(error.message, 'the execution timed out after 0.3 s (timeout_seconds: 0.3)');
      assert.deepEqual((error as { details?: unknown }).details, { timeout_seconds: 0.3 });
    });

    it('an output template that fails, and an output over the cap', async () => {
      const broken = await failedRun({ steps: [{ id: 'a', type: 'noop' }], output: '{{ $error("no output") }}' });
      assert.match(assertShape(broken.error, 'OUTPUT_INVALID').message, /output could not be rendered.*no output/);
      const large = await failedRun({ steps: [{ id: 'a', type: 'noop' }], output: "{{ $pad('', 5000, 'x') }}" });
      assertShape(large.error, 'OUTPUT_TOO_LARGE');
    });

    it('a for_each item that fails: STEP_FAILED naming the step, the item in the cause', async () => {
      const execution = await failedRun({
        steps: [
          {
            id: 'each',
            type: 'transform',
            for_each: '{{ [1, 2] }}',
            input: { expression: '$ = 2 ? $error("bad item") : $', data: '{{ item }}' },
          },
        ],
      });
      const error = assertShape(execution.error, 'STEP_FAILED');
      assert.equal(error.step_id, 'each');
      assert.equal(error.cause.index, 1);
      assert.match(error.message, /1 of 2 items failed/);
    });

    it('a child that fails, and a child that refuses its input: STEP_FAILED with the child in the cause', async () => {
      const child = await createWorkflow({ name: 'failing child', steps: [failing('inner')] });
      const strict = await createWorkflow({
        name: 'strict child',
        input_schema: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
        steps: [{ id: 'inner', type: 'noop' }],
      });
      const failed = await failedRun({
        steps: [{ id: 'call', type: 'workflow', input: { workflow_id: child, input: {} }, retry: { max_attempts: 1 } }],
      });
      const error = assertShape(failed.error, 'STEP_FAILED');
      assert.equal(error.step_id, 'call');
      assertShape(error.cause.details.child_error, 'STEP_FAILED');
      const refused = await failedRun({
        steps: [{ id: 'call', type: 'workflow', input: { workflow_id: strict, input: { n: 'one' } } }],
      });
      assert.match(assertShape(refused.error, 'STEP_FAILED').message, /refused the input/);
    });

    it('a worker that stops heartbeating: STEP_FAILED with the lease loss in the cause', async () => {
      const worker = await createKey(server, 'worker');
      const declared = await server.request('PUT', '/task-types/shape.quiet', {
        key: worker,
        body: { lease_seconds: 1 },
      });
      assert.ok(declared.status < 300, declared.text);
      const id = await runAdhoc(server, {
        name: 'quiet worker',
        steps: [{ id: 'remote', type: 'shape.quiet', retry: { max_attempts: 1 } }],
      });
      await waitUntil(async () => {
        const polled = await server.request('POST', '/tasks/poll', {
          key: worker,
          body: { worker_id: 'quiet', types: ['shape.quiet'], max_tasks: 1 },
        });
        return polled.body.tasks.length > 0;
      }, 'the task to be handed out');
      const execution = await waitForExecution(server, id, ['failed'], 20_000);
      const error = assertShape(execution.error, 'STEP_FAILED');
      assert.match(error.cause.message, /lease expired: worker 'quiet' stopped sending heartbeats/);
    });

    it('a concurrency strategy that cancels: CONCURRENCY_LIMIT; a user cancel leaves error null', async () => {
      const held = {
        name: 'one at a time',
        concurrency: { limit: 1, strategy: 'cancel_newest' },
        steps: [{ id: 'wait', type: 'delay', input: { seconds: 30 } }],
      };
      const first = await runAdhoc(server, held);
      const second = await runAdhoc(server, held);
      const cancelled = await waitForExecution(server, second, ['cancelled']);
      assertShape(cancelled.error, 'CONCURRENCY_LIMIT');
      const cancel = await server.request('POST', `/executions/${first}/cancel`, { body: {} });
      assert.ok(cancel.status < 300, cancel.text);
      const byUser = await waitForExecution(server, first, ['cancelled']);
      assert.equal(byUser.error, null);
    });

    it('the workflow.failed event and the execution list carry the same error', async () => {
      const execution = await failedRun({ steps: [failing('bad')] });
      const events = await server.request('GET', `/executions/${execution.id}/events?order=asc`);
      const failedEvent = events.body.items.find((event: { type: string }) => event.type === 'workflow.failed');
      assert.deepEqual(failedEvent?.data.error, execution.error);
      const list = await server.request('GET', '/executions?status=failed&limit=200');
      const listed = list.body.items.find((item: { id: string }) => item.id === execution.id);
      assert.deepEqual(listed?.error, execution.error);
    });
  });
}
