import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOST_ATTEMPT_ERROR } from '../src/store/repositories/webhook-delivery-repository.js';
import { type ApiResponse, sendRequest } from './helpers/api-server.js';
import { createTestDatabase, postgresOnly, type TestDatabase, testBackends } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe, startServes } from './helpers/processes.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';

/**
 * The webhook outbox with real `weft serve` processes: deliveries survive kill -9 between
 * attempts and during one, back off exponentially, and with several processes on PostgreSQL each
 * delivery is sent by one of them. Every request is checked by a receiver that verifies its
 * Standard Webhooks signature.
 */

const ADMIN_KEY = 'webhook-restart-admin-key-0123456789';
const RETRY_BASE_MS = 700;

function api(url: string, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  return sendRequest(url, method, path, { key: ADMIN_KEY, body });
}

function serveEnv(database: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    WEFT_DATABASE_URL: database.config.databaseUrl,
    WEFT_DATA_DIR: database.config.dataDir,
    WEFT_ADMIN_KEY: ADMIN_KEY,
    WEFT_LOG_LEVEL: 'warn',
    WEFT_WEBHOOK_RETRY_BASE_MS: String(RETRY_BASE_MS),
    ...extra,
  };
}

const DEFINITION = {
  name: 'Notify me',
  steps: [
    { id: 'a', type: 'noop', input: { n: 1 } },
    { id: 'b', type: 'noop', depends_on: ['a'] },
  ],
};

async function subscribe(url: string, receiver: WebhookReceiver, path: string, eventTypes: string[]) {
  const created = await api(url, 'POST', '/webhooks', { url: `${receiver.url}${path}`, event_types: eventTypes });
  assert.equal(created.status, 201, created.text);
  receiver.setSecret(path, created.body.secret);
  return created.body.id as string;
}

async function startExecution(url: string): Promise<string> {
  const workflow = await api(url, 'POST', '/workflows', DEFINITION);
  const execution = await api(url, 'POST', `/workflows/${workflow.body.id}/executions`, {});
  assert.equal(execution.status, 202, execution.text);
  return execution.body.id;
}

// biome-ignore lint/suspicious/noExplicitAny: delivery items are asserted field by field.
async function onlyDelivery(url: string, webhookId: string): Promise<any> {
  const log = await api(url, 'GET', `/webhooks/${webhookId}/deliveries`);
  assert.equal(log.status, 200, log.text);
  assert.ok(log.body.items.length <= 1, log.text);
  return log.body.items[0];
}

for (const backend of testBackends()) {
  describe(`webhook outbox across restarts (${backend})`, () => {
    it('retries with backoff through kill -9 and a restart, and delivers exactly once', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      // 500 to the first three attempts, 200 after.
      const receiver = await startWebhookReceiver((_request, count) => (count < 3 ? 500 : 200));
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(serveEnv(database));
        const webhookId = await subscribe(serve.url, receiver, '/flaky', ['workflow.completed']);
        await startExecution(serve.url);
        const url0 = serve.url;
        await waitUntil(
          async () => (await onlyDelivery(url0, webhookId))?.attempts.length === 2,
          'two attempts to be recorded',
        );
        // Between the second and the third attempt: the delivery waits in the outbox.
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        serve = await startServe(serveEnv(database));
        const url = serve.url;
        await waitUntil(
          async () => (await onlyDelivery(url, webhookId))?.status === 'delivered',
          'the delivery to succeed after the restart',
          30_000,
        );
        // Anything sent twice would arrive within a poll or two.
        await new Promise((resolve) => setTimeout(resolve, 1500));

        const delivery = await onlyDelivery(url, webhookId);
        assert.deepEqual(
          delivery.attempts.map((attempt: { attempt: number; status_code: number }) => [
            attempt.attempt,
            attempt.status_code,
          ]),
          [
            [1, 500],
            [2, 500],
            [3, 500],
            [4, 200],
          ],
        );
        for (const attempt of delivery.attempts) {
          assert.equal(typeof attempt.latency_ms, 'number');
          assert.equal(attempt.error, attempt.status_code === 200 ? null : 'HTTP 500: answer body');
        }
        // Exponential backoff: each wait at least the jittered (-25%) base doubled per attempt.
        const starts = delivery.attempts.map((attempt: { started_at: string }) => Date.parse(attempt.started_at));
        for (let index = 1; index < starts.length; index += 1) {
          const minimum = 0.75 * RETRY_BASE_MS * 2 ** (index - 1);
          assert.ok(starts[index] - starts[index - 1] >= minimum, `wait before attempt ${index + 1}`);
        }

        const requests = receiver.at('/flaky');
        assert.equal(requests.length, 4, 'four requests, one per attempt');
        assert.deepEqual(
          requests.map((request) => request.status),
          [500, 500, 500, 200],
        );
        for (const request of requests) {
          assert.equal(request.verified, true, String(request.verified));
          assert.equal(request.id, delivery.id, 'the same webhook-id on every attempt');
          assert.equal(request.raw, requests[0]?.raw, 'the same body on every attempt');
        }
        assert.equal(requests[0]?.payload.type, 'workflow.completed');
      } finally {
        await serve?.stop('SIGKILL');
        await receiver.close();
        await database.drop();
      }
    });

    it('retries an attempt that was in flight when its process died, once its lease expired', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      // The first attempt hangs until its sender is gone; the next one succeeds.
      const receiver = await startWebhookReceiver((_request, count) =>
        count === 0 ? { status: 200, delayMs: 60_000 } : 200,
      );
      // The lease of an attempt follows this timeout, so it is short; but the second attempt's
      // answer comes from this test's process, which shares two cores with the rest of the suite:
      // at 1 s it once timed out under that load and made a third attempt.
      const env = serveEnv(database, { WEFT_WEBHOOK_TIMEOUT_MS: '3000' });
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(env);
        const webhookId = await subscribe(serve.url, receiver, '/slow', ['workflow.completed']);
        await startExecution(serve.url);
        await waitUntil(() => receiver.at('/slow').length === 1, 'the first attempt to arrive');
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        serve = await startServe(env);
        const url = serve.url;
        await waitUntil(
          async () => (await onlyDelivery(url, webhookId))?.status === 'delivered',
          'the delivery to succeed after the lease expired',
          30_000,
        );
        const delivery = await onlyDelivery(url, webhookId);
        assert.deepEqual(
          delivery.attempts.map((attempt: { status_code: number | null; error: string | null }) => [
            attempt.status_code,
            attempt.error,
          ]),
          [
            [null, LOST_ATTEMPT_ERROR],
            [200, null],
          ],
        );
        const requests = receiver.at('/slow');
        assert.equal(requests.length, 2);
        assert.ok(requests.every((request) => request.verified === true && request.id === delivery.id));
      } finally {
        await serve?.stop('SIGKILL');
        await receiver.close();
        await database.drop();
      }
    });

    it(
      'sends each delivery from one of several processes',
      postgresOnly(backend, 'several processes share PostgreSQL'),
      async () => {
        const database = await createTestDatabase(backend, { migrated: true });
        const receiver = await startWebhookReceiver();
        const processes: ServeProcess[] = [];
        try {
          processes.push(
            ...(await startServes(
              database,
              [1, 2, 3].map(() => serveEnv(database)),
            )),
          );
          const urls = processes.map((serve) => serve.url);
          const [first] = urls as [string];
          await subscribe(first, receiver, '/all', ['*']);
          const workflow = await api(first, 'POST', '/workflows', DEFINITION);
          const ids: string[] = [];
          for (let index = 0; index < 30; index += 1) {
            const target = urls[index % urls.length] as string;
            ids.push((await api(target, 'POST', `/workflows/${workflow.body.id}/executions`, {})).body.id);
          }
          let expected = 0;
          for (const id of ids) {
            await waitUntil(
              async () => (await api(first, 'GET', `/executions/${id}`)).body.status === 'completed',
              `execution ${id} to complete`,
            );
            expected += (await api(first, 'GET', `/executions/${id}/events?limit=200`)).body.items.length;
          }
          await waitUntil(() => receiver.at('/all').length >= expected, `${expected} deliveries`, 30_000);
          await new Promise((resolve) => setTimeout(resolve, 1500));
          const requests = receiver.at('/all');
          assert.equal(requests.length, expected, 'each delivery was sent once');
          assert.equal(new Set(requests.map((request) => request.id)).size, expected);
          assert.ok(requests.every((request) => request.verified === true));
        } finally {
          for (const serve of processes) await serve.stop('SIGKILL');
          await receiver.close();
          await database.drop();
        }
      },
    );
  });
}
