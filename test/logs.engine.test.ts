import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../src/logger.js';
import { defineTask } from '../src/tasks/task-type.js';
import { createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import {
  type FixtureServer,
  runAdhoc,
  startFixtureServer,
  waitForExecution,
  waitUntil,
} from './helpers/http-fixtures.js';

/**
 * The engine's lines in the process log (docs/logging.md) at the default level: execution starts
 * and ends, step failures and retries, webhook delivery failures, leases taken back. Each carries
 * ids, statuses, durations and error messages, and none carries an input, an output, a secret or
 * a webhook's URL.
 */

/** Strings that reach inputs, outputs, secrets and URLs, and must never reach a log line. */
const INPUT_MARKER = 'input-marker-7f3a';
const OUTPUT_MARKER = 'output-marker-91c2';
const SECRET_VALUE = 'secret-value-5d8e0b';
const URL_TOKEN = 'url-token-c4e1';

/** Fails its first attempt (naming its input's token, which the engine redacts), then succeeds. */
const flaky = defineTask({
  type: 'logs.flaky',
  description: 'fails its first attempt',
  handler: async (input, context) => {
    const { token } = input as { token: string };
    if (context.attempt === 1) throw new Error(`first attempt refused with ${token}`);
    return { note: OUTPUT_MARKER };
  },
});

/** Fails every attempt. */
const broken = defineTask({
  type: 'logs.broken',
  description: 'always fails',
  handler: async () => {
    throw new Error('broken on purpose');
  },
});

type Line = Record<string, unknown> & { msg: string; level: number };

for (const backend of testBackends()) {
  describe(`engine log lines (${backend})`, () => {
    let server: TestServer;
    let receiver: FixtureServer;
    const raw: string[] = [];
    const lines: Line[] = [];
    /** Lines with this message about this execution. */
    const find = (msg: string, executionId: string) =>
      lines.filter((line) => line.msg === msg && line.execution_id === executionId);
    const waitForLine = (msg: string, executionId: string) =>
      waitUntil(() => find(msg, executionId).length > 0, `the line '${msg}' of ${executionId}`, 15_000);

    before(async () => {
      const logger = createLogger('info', {
        write: (line: string) => {
          raw.push(line);
          lines.push(JSON.parse(line) as Line);
        },
      });
      receiver = await startFixtureServer(() => ({ status: 500, text: 'receiver down' }));
      server = await startTestServer(
        backend,
        { pollIntervalMs: 100, webhookRetryBaseMs: 20, webhookMaxAttempts: 2 },
        [flaky, broken],
        logger,
      );
      const secret = await server.request('PUT', '/secrets/LOGS_TOKEN', { body: { value: SECRET_VALUE } });
      assert.equal(secret.status, 201, secret.text);
    });
    after(async () => {
      await server.close();
      await receiver.close();
      // Whatever the tests did, no line carried an input, an output, a secret or a webhook's URL.
      const text = raw.join('');
      for (const marker of [INPUT_MARKER, OUTPUT_MARKER, SECRET_VALUE, URL_TOKEN]) {
        assert.equal(text.includes(marker), false, `a log line carries ${marker}`);
      }
    });

    it('logs an execution that completes: started, then completed with its duration', async () => {
      const workflow = await server.request('POST', '/workflows', {
        body: { name: 'Logged', steps: [{ id: 'only', type: 'noop', input: { note: INPUT_MARKER } }] },
      });
      assert.equal(workflow.status, 201, workflow.text);
      const started = await server.request('POST', `/workflows/${workflow.body.id}/executions`, {
        body: { input: { note: INPUT_MARKER } },
      });
      const id = started.body.id as string;
      await waitForExecution(server, id, ['completed']);
      await waitForLine('execution completed', id);
      const [start] = find('execution started', id);
      assert.ok(start, 'a start line');
      assert.equal(start.level, 30);
      assert.equal(start.workflow_id, workflow.body.id);
      assert.match(String(start.workspace_id), /^ws_/);
      const [end] = find('execution completed', id);
      assert.equal(end?.level, 30);
      assert.equal(end?.status, 'completed');
      assert.equal(end?.workflow_id, workflow.body.id);
      assert.equal(typeof end?.duration_ms, 'number');
      assert.ok(lines.indexOf(start) < lines.indexOf(end as Line), 'the start comes first');
      // A successful step has no line of its own.
      assert.equal(
        lines.some((line) => line.execution_id === id && String(line.msg).startsWith('step')),
        false,
      );
    });

    it('logs a failed attempt that is retried (error redacted), and a step and execution that fail', async () => {
      const retried = await runAdhoc(server, {
        name: 'Retried',
        steps: [
          {
            id: 'flaky',
            type: 'logs.flaky',
            input: { token: '{{ secrets.LOGS_TOKEN }}', note: INPUT_MARKER },
            retry: { max_attempts: 2, backoff: 'fixed', delay_ms: 10 },
          },
        ],
      });
      await waitForExecution(server, retried, ['completed']);
      await waitForLine('execution completed', retried);
      const [retry] = find('step retrying', retried);
      assert.ok(retry, 'a retry line');
      assert.equal(retry.level, 30);
      assert.equal(retry.step_id, 'flaky');
      assert.equal(retry.attempt, 1);
      assert.equal(retry.workflow_id, null, 'an ad-hoc run has no workflow');
      assert.equal(retry.error, 'first attempt refused with [redacted:LOGS_TOKEN]');
      assert.equal(typeof retry.next_attempt_at, 'string');
      assert.equal(find('step failed', retried).length, 0);

      const failed = await runAdhoc(server, {
        name: 'Fails',
        steps: [
          {
            id: 'broken',
            type: 'logs.broken',
            input: { note: INPUT_MARKER },
            retry: { max_attempts: 2, backoff: 'fixed', delay_ms: 10 },
          },
        ],
      });
      await waitForExecution(server, failed, ['failed']);
      await waitForLine('execution failed', failed);
      assert.deepEqual(
        find('step retrying', failed).map((line) => [line.step_id, line.attempt, line.error]),
        [['broken', 1, 'broken on purpose']],
      );
      const [stepFailed] = find('step failed', failed);
      assert.equal(stepFailed?.level, 40);
      assert.equal(stepFailed?.step_id, 'broken');
      assert.equal(stepFailed?.attempt, 2);
      assert.equal(stepFailed?.error, 'broken on purpose');
      const [end] = find('execution failed', failed);
      assert.equal(end?.level, 40);
      assert.equal(end?.status, 'failed');
      assert.equal(end?.error, "step 'broken' failed: broken on purpose");
      assert.equal(typeof end?.duration_ms, 'number');
    });

    it('logs a cancelled execution', async () => {
      const id = await runAdhoc(server, {
        name: 'Naps',
        steps: [{ id: 'nap', type: 'delay', input: { seconds: 3600 } }],
      });
      await waitForLine('execution started', id);
      assert.equal((await server.request('POST', `/executions/${id}/cancel`)).status, 200);
      await waitForLine('execution cancelled', id);
      const [end] = find('execution cancelled', id);
      assert.equal(end?.level, 30);
      assert.equal(end?.status, 'cancelled');
      assert.equal(typeof end?.duration_ms, 'number');
    });

    it('logs each failed webhook attempt with ids and the status code, never the URL', async () => {
      const subscription = await server.request('POST', '/webhooks', {
        body: { url: `${receiver.url}/hook/${URL_TOKEN}?token=${URL_TOKEN}`, event_types: ['workflow.completed'] },
      });
      assert.equal(subscription.status, 201, subscription.text);
      try {
        const id = await runAdhoc(server, { name: 'Announced', steps: [{ id: 'only', type: 'noop' }] });
        await waitForExecution(server, id, ['completed']);
        await waitForLine('webhook delivery failed for good', id);
        const [retrying] = find('webhook delivery failed; retrying', id);
        assert.equal(retrying?.level, 40);
        assert.equal(retrying?.webhook_id, subscription.body.id);
        assert.match(String(retrying?.delivery_id), /^\S+$/);
        assert.equal(retrying?.event_type, 'workflow.completed');
        assert.equal(retrying?.attempt, 1);
        assert.equal(retrying?.status_code, 500);
        assert.equal(retrying?.error, 'HTTP 500: receiver down');
        assert.equal(typeof retrying?.next_attempt_at, 'string');
        const [abandoned] = find('webhook delivery failed for good', id);
        assert.equal(abandoned?.level, 40);
        assert.equal(abandoned?.attempt, 2);
        assert.equal(abandoned?.delivery_id, retrying?.delivery_id);
      } finally {
        await server.request('DELETE', `/webhooks/${subscription.body.id}`);
      }
    });

    it("logs a worker's expired lease with its worker id, then what became of the step", async () => {
      const worker = await createKey(server, 'worker');
      const declared = await server.request('PUT', '/task-types/logs.lease', {
        key: worker,
        body: { lease_seconds: 1 },
      });
      assert.ok([200, 201].includes(declared.status), declared.text);
      const id = await runAdhoc(server, {
        name: 'Worker goes quiet',
        steps: [{ id: 'quiet', type: 'logs.lease', input: { note: INPUT_MARKER } }],
      });
      const polled = await server.request('POST', '/tasks/poll', {
        key: worker,
        body: { worker_id: 'quiet-worker', types: ['logs.lease'], wait_seconds: 5 },
      });
      assert.equal(polled.body.tasks.length, 1, polled.text);
      // No heartbeat: the lease expires after 1 s and the sweep fails the attempt.
      await waitForExecution(server, id, ['failed'], 15_000);
      await waitForLine('execution failed', id);
      const [lease] = find('lease expired; taking the step back', id);
      assert.equal(lease?.level, 40);
      assert.equal(lease?.holder, 'worker');
      assert.equal(lease?.owner, 'quiet-worker', 'the worker id, not the task lease owner with its nonce');
      assert.equal(lease?.step_id, 'quiet');
      assert.equal(lease?.attempt, 1);
      const [stepFailed] = find('step failed', id);
      assert.match(String(stepFailed?.error), /lease expired: worker 'quiet-worker' stopped sending heartbeats/);
      assert.ok(lines.indexOf(lease as Line) < lines.indexOf(stepFailed as Line), 'the lease line comes first');
    });
  });
}
