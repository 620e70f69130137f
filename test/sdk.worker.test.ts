import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createClient,
  createWorker,
  NonRetryableError,
  TaskAbortedError,
  type WeftWorker,
  type WorkerLogger,
  type WorkerOptions,
  type WorkerTaskContext,
} from '../src/sdk/index.js';
import { createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution, waitUntil } from './helpers/http-fixtures.js';

/** A logger that keeps every line, for assertions and for failure messages. */
function recordingLogger(): WorkerLogger & { lines: string[] } {
  const lines: string[] = [];
  const record = (level: string) => (fields: Record<string, unknown>, message: string) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields)}`);
  };
  return { lines, debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

/** Resolves when the signal aborts, with its reason. */
function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
}

for (const backend of testBackends()) {
  describe(`SDK worker (${backend})`, () => {
    let server: TestServer;
    let workerKey: string;
    const workers: WeftWorker[] = [];

    /** A started worker that the suite stops at the end whatever happens. */
    async function startWorker(options: Omit<WorkerOptions, 'baseUrl' | 'apiKey'>) {
      const logger = recordingLogger();
      const worker = createWorker({ baseUrl: server.url, apiKey: workerKey, pollWaitSeconds: 1, logger, ...options });
      workers.push(worker);
      await worker.start();
      return { worker, logger };
    }

    before(async () => {
      server = await startTestServer(backend);
      workerKey = await createKey(server, 'worker');
    });
    after(async () => {
      await Promise.all(workers.map((worker) => worker.stop({ graceMs: 0 })));
      await server.close();
    });

    it('declares its types and completes steps of them, with heartbeats beyond the lease', async () => {
      const contexts: WorkerTaskContext[] = [];
      const { worker, logger } = await startWorker({
        handlers: {
          'sdk.double': {
            description: 'Doubles a number',
            inputSchema: { type: 'object', required: ['value'], properties: { value: { type: 'number' } } },
            outputSchema: { type: 'object', additionalProperties: false, properties: { doubled: { type: 'number' } } },
            leaseSeconds: 1,
            handler: async (input: { value: number }, context) => {
              contexts.push(context);
              // Longer than the 1 s lease: only heartbeats keep the task.
              await new Promise((resolve) => setTimeout(resolve, 1500));
              return { doubled: input.value * 2 };
            },
          },
        },
      });
      const declared = await createClient({ baseUrl: server.url, apiKey: workerKey }).taskTypes.get('sdk.double');
      assert.equal(declared.source, 'declared');
      assert.equal(declared.description, 'Doubles a number');
      assert.equal(declared.lease_seconds, 1);

      const id = await runAdhoc(
        server,
        {
          name: 'double via worker',
          steps: [{ id: 'double', type: 'sdk.double', input: { value: '{{ input.value }}' } }],
          output: '{{ steps.double.output.doubled }}',
        },
        { value: 21 },
      );
      const execution = await waitForExecution(server, id, ['completed', 'failed'], 20_000);
      assert.equal(execution.status, 'completed', `${JSON.stringify(execution)}\n${logger.lines.join('\n')}`);
      assert.equal(execution.output, 42);
      assert.equal(stepOf(execution, 'double').attempts, 1);
      assert.equal(contexts.length, 1);
      assert.equal(contexts[0]?.executionId, id);
      assert.equal(contexts[0]?.stepId, 'double');
      assert.equal(contexts[0]?.attempt, 1);
      assert.equal(contexts[0]?.workflowId, null);
      await worker.onIdle();
      assert.equal(worker.running, 0);
    });

    it('fails a step in one attempt when the handler throws NonRetryableError, and retries other errors', async () => {
      let calls = 0;
      await startWorker({
        handlers: {
          'sdk.reject': async () => {
            throw new NonRetryableError('the prompt is not allowed');
          },
          'sdk.flaky': async () => {
            calls++;
            if (calls < 2) throw new Error('try again');
            return { ok: true };
          },
        },
      });
      const retry = { max_attempts: 3, backoff: 'fixed', delay_ms: 10 };
      // Separate executions: a failed step fails its execution, which cancels the other steps.
      const rejected = await runAdhoc(server, {
        name: 'rejected',
        steps: [{ id: 'reject', type: 'sdk.reject', retry }],
      });
      const retried = await runAdhoc(server, { name: 'retried', steps: [{ id: 'flaky', type: 'sdk.flaky', retry }] });
      const failed = await waitForExecution(server, rejected, ['completed', 'failed'], 20_000);
      assert.equal(failed.status, 'failed');
      const reject = stepOf(failed, 'reject');
      assert.equal(reject.status, 'failed');
      assert.equal(reject.attempts, 1);
      assert.equal(reject.error.message, 'the prompt is not allowed');
      assert.equal(reject.error.retryable, false);
      const completed = await waitForExecution(server, retried, ['completed', 'failed'], 20_000);
      assert.equal(completed.status, 'completed');
      assert.equal(stepOf(completed, 'flaky').attempts, 2);
    });

    it('stops the handler and reports nothing when the execution is cancelled', async () => {
      const reasons: unknown[] = [];
      const { worker } = await startWorker({
        heartbeatEvery: 50,
        handlers: {
          'sdk.cancellable': async (_input, { signal }) => {
            reasons.push(await aborted(signal));
            return { too: 'late' };
          },
        },
      });
      const id = await runAdhoc(server, { name: 'cancel me', steps: [{ id: 'wait', type: 'sdk.cancellable' }] });
      await waitUntil(() => worker.running === 1, 'the task to start');
      assert.equal((await server.request('POST', `/executions/${id}/cancel`)).status, 200);
      await worker.onIdle();
      assert.ok(reasons[0] instanceof TaskAbortedError);
      assert.equal(reasons[0].reason, 'cancelled');
      const execution = await waitForExecution(server, id, ['cancelled']);
      assert.equal(stepOf(execution, 'wait').output, null);
    });

    it('stop() releases the task of a long handler so another worker gets it', async () => {
      const reasons: unknown[] = [];
      const { worker } = await startWorker({
        workerId: 'leaving',
        handlers: {
          'sdk.slow': async (_input, { signal }) => {
            reasons.push(await aborted(signal));
            throw new Error('aborted');
          },
        },
      });
      // One attempt only: the release must not use it up.
      const id = await runAdhoc(server, {
        name: 'slow',
        steps: [{ id: 'slow', type: 'sdk.slow', retry: { max_attempts: 1 } }],
      });
      await waitUntil(() => worker.running === 1, 'the task to start');
      const started = Date.now();
      await worker.stop({ graceMs: 200 });
      assert.ok(Date.now() - started < 5000, 'stop() does not wait for the lease to expire');
      assert.ok(reasons[0] instanceof TaskAbortedError);
      assert.equal(reasons[0].reason, 'shutdown');

      const client = createClient({ baseUrl: server.url, apiKey: workerKey });
      const [task] = await client.tasks.poll({ worker_id: 'next', types: ['sdk.slow'], wait_seconds: 5 });
      assert.equal(task?.execution_id, id);
      assert.equal((await client.tasks.complete(task.id, { done: true })).status, 'completed');
      const execution = await waitForExecution(server, id, ['completed']);
      assert.deepEqual(stepOf(execution, 'slow').output, { done: true });
    });

    it('stop() lets the waiting poll return and releases the tasks it brings without running them', async () => {
      let calls = 0;
      const { worker, logger } = await startWorker({
        pollWaitSeconds: 10,
        handlers: {
          'sdk.late': async () => {
            calls++;
            return 'ran';
          },
        },
      });
      await new Promise((resolve) => setTimeout(resolve, 300)); // the poll is now waiting on the server
      const stopped = worker.stop({ graceMs: 5000 });
      const id = await runAdhoc(server, { name: 'late', steps: [{ id: 'late', type: 'sdk.late' }] });
      await stopped;
      assert.equal(calls, 0);
      assert.ok(
        logger.lines.some((line) => line.startsWith('debug task released')),
        logger.lines.join('\n'),
      );
      const client = createClient({ baseUrl: server.url, apiKey: workerKey });
      const [task] = await client.tasks.poll({ worker_id: 'next', types: ['sdk.late'], wait_seconds: 5 });
      assert.equal(task?.execution_id, id);
      await client.tasks.complete(task.id, 'done elsewhere');
      await waitForExecution(server, id, ['completed']);
    });

    it('lets handlers finish within the grace period and completes them', async () => {
      const { worker } = await startWorker({
        handlers: {
          'sdk.brief': async () => {
            await new Promise((resolve) => setTimeout(resolve, 300));
            return 'finished';
          },
        },
      });
      const id = await runAdhoc(server, { name: 'brief', steps: [{ id: 'brief', type: 'sdk.brief' }] });
      await waitUntil(() => worker.running === 1, 'the task to start');
      await worker.stop({ graceMs: 5000 });
      const execution = await waitForExecution(server, id, ['completed']);
      assert.equal(stepOf(execution, 'brief').output, 'finished');
    });

    it('backs off and logs when the server cannot be reached, and stops cleanly', async () => {
      const logger = recordingLogger();
      const worker = createWorker({
        baseUrl: 'http://127.0.0.1:9',
        apiKey: workerKey,
        declare: false,
        logger,
        handlers: { 'sdk.nowhere': async () => null },
      });
      await worker.start();
      await waitUntil(() => logger.lines.some((line) => line.startsWith('warn polling failed')), 'a logged failure');
      await worker.stop();
      assert.match(logger.lines.find((line) => line.startsWith('warn polling failed')) ?? '', /retry_in_ms/);
    });

    it('rejects handler maps it cannot run', () => {
      assert.throws(() => createWorker({ baseUrl: server.url, apiKey: workerKey, handlers: {} }), /empty/);
      assert.throws(
        () => createWorker({ baseUrl: server.url, apiKey: workerKey, handlers: { a: async () => 1 }, types: ['b'] }),
        /'b' has no handler/,
      );
      assert.throws(
        () => createWorker({ baseUrl: server.url, apiKey: workerKey, handlers: { a: async () => 1 }, concurrency: 0 }),
        /concurrency/,
      );
    });
  });
}
