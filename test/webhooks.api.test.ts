import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { EXECUTION_EVENT_TYPES } from '../src/events/webhook-events.js';
import { assertProblem, createKey, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, waitForExecution, waitUntil } from './helpers/http-fixtures.js';
import { type ReceivedWebhook, startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';

/**
 * Webhook subscriptions and deliveries through a real server and a real receiver: CRUD with the
 * secret shown once, event-type filters, the execution's webhook_url with and without
 * suppress_step_events, signatures, redirects, timeouts and the delivery logs.
 */

interface LoggedEvent {
  type: string;
  id: string;
  created_at: string;
}

/** The execution's event log, oldest first: the source of truth for what should be delivered. */
async function eventsOf(server: TestServer, executionId: string): Promise<LoggedEvent[]> {
  const response = await server.request('GET', `/executions/${executionId}/events?order=asc&limit=200`);
  assert.equal(response.status, 200, response.text);
  return response.body.items;
}

/** Every delivery of a subscription or execution, following cursors. */
async function deliveries(server: TestServer, path: string) {
  // biome-ignore lint/suspicious/noExplicitAny: delivery items are asserted field by field.
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const page = await server.request('GET', `${path}?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(page.status, 200, page.text);
    items.push(...page.body.items);
    cursor = page.body.next_cursor;
  } while (cursor);
  return items;
}

async function subscribe(server: TestServer, receiver: WebhookReceiver, path: string, body: Record<string, unknown>) {
  const response = await server.request('POST', '/webhooks', { body: { url: `${receiver.url}${path}`, ...body } });
  assert.equal(response.status, 201, response.text);
  receiver.setSecret(path, response.body.secret);
  return response.body as { id: string; secret: string };
}

/** Waits until `count` deliveries at `path` (those `which` picks) are settled; returns them. */
async function waitForSettledDeliveries(
  server: TestServer,
  path: string,
  count: number,
  // biome-ignore lint/suspicious/noExplicitAny: delivery items are asserted field by field.
  which: (item: any) => boolean = () => true,
) {
  await waitUntil(async () => {
    const items = (await deliveries(server, path)).filter(which);
    return items.length === count && items.every((item) => item.status !== 'pending');
  }, `${count} settled deliveries at ${path}`);
  return (await deliveries(server, path)).filter(which);
}

/**
 * The requests at `path`, one per webhook-id: what a receiver that dedupes sees. An id that arrived
 * more than once must belong to a delivery of `log` with as many attempts (a retry after a timeout,
 * at-least-once), never to a delivery sent twice by mistake.
 */
// biome-ignore lint/suspicious/noExplicitAny: delivery items are asserted field by field.
function distinctRequests(receiver: WebhookReceiver, path: string, log: any[]): ReceivedWebhook[] {
  const byId = new Map<string, ReceivedWebhook[]>();
  for (const request of receiver.at(path)) byId.set(request.id, [...(byId.get(request.id) ?? []), request]);
  for (const [id, requests] of byId) {
    const attempts = log.find((item) => item.id === id)?.attempts.length ?? 0;
    assert.ok(requests.length <= attempts, `${path}: ${id} arrived ${requests.length} times in ${attempts} attempts`);
  }
  return [...byId.values()].map((requests) => requests[0] as ReceivedWebhook);
}

const FAST = { webhookRetryBaseMs: 20, webhookMaxAttempts: 3, webhookTimeoutMs: 1000, pollIntervalMs: 100 };

for (const backend of testBackends()) {
  describe(`webhooks API (${backend})`, () => {
    let server: TestServer;
    let receiver: WebhookReceiver;

    before(async () => {
      server = await startTestServer(backend, FAST);
      receiver = await startWebhookReceiver((request) => {
        if (request.path === '/redirect') return { status: 302, headers: { location: `${receiver.url}/elsewhere` } };
        if (request.path === '/hang') return { status: 200, delayMs: 3000 };
        return 200;
      });
    });
    after(async () => {
      await server.close();
      await receiver.close();
    });

    it('creates, lists, reads, changes and deletes subscriptions; the secret is shown once', async () => {
      const member = await createKey(server, 'member');
      const created = await server.request('POST', '/webhooks', {
        key: member,
        body: { url: 'http://127.0.0.1:9/hook', event_types: ['workflow.completed'], description: 'first' },
      });
      assert.equal(created.status, 201, created.text);
      assert.match(created.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.equal(created.headers.get('location'), `/api/v1/webhooks/${created.body.id}`);
      assert.deepEqual(
        { ...created.body, id: undefined, secret: undefined, created_at: undefined, updated_at: undefined },
        {
          id: undefined,
          secret: undefined,
          created_at: undefined,
          updated_at: undefined,
          workspace_id: created.body.workspace_id,
          url: 'http://127.0.0.1:9/hook',
          description: 'first',
          event_types: ['workflow.completed'],
          enabled: true,
        },
      );
      const second = await server.request('POST', '/webhooks', { body: { url: 'http://127.0.0.1:9/all' } });
      assert.deepEqual(second.body.event_types, ['*'], 'all event types by default');

      const read = await server.request('GET', `/webhooks/${created.body.id}`);
      assert.equal(read.status, 200);
      assert.equal('secret' in read.body, false, 'the secret is never shown again');
      const list = await server.request('GET', '/webhooks?limit=1');
      assert.deepEqual(
        list.body.items.map((item: { id: string }) => item.id),
        [second.body.id],
        'newest first',
      );
      const rest = await server.request('GET', `/webhooks?limit=1&cursor=${list.body.next_cursor}`);
      assert.equal(rest.body.items[0].id, created.body.id);
      assert.equal(list.text.includes('whsec_'), false);

      const patched = await server.request('PATCH', `/webhooks/${created.body.id}`, {
        body: { url: 'http://127.0.0.1:9/other', event_types: [], description: null, enabled: false },
      });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.body.url, 'http://127.0.0.1:9/other');
      assert.deepEqual(patched.body.event_types, []);
      assert.equal(patched.body.description, null);
      assert.equal(patched.body.enabled, false);

      assert.equal((await server.request('DELETE', `/webhooks/${created.body.id}`)).status, 204);
      assertProblem(await server.request('GET', `/webhooks/${created.body.id}`), 404, 'NOT_FOUND');
      assertProblem(await server.request('DELETE', `/webhooks/${created.body.id}`), 404, 'NOT_FOUND');
      assert.equal((await server.request('DELETE', `/webhooks/${second.body.id}`)).status, 204);
    });

    it('rejects bad subscriptions with 400 and worker keys with 403', async () => {
      for (const body of [
        { url: 'ftp://127.0.0.1:9' },
        { url: 'http://127.0.0.1:9', event_types: ['step.exploded'] },
        { url: 'http://127.0.0.1:9', event_types: ['step.failed', 'step.failed'] },
        { url: 'http://127.0.0.1:9', secret: 'mine' },
        {},
      ]) {
        assertProblem(await server.request('POST', '/webhooks', { body }), 400, 'VALIDATION_FAILED');
      }
      const worker = await createKey(server, 'worker');
      assertProblem(await server.request('GET', '/webhooks', { key: worker }), 403, 'FORBIDDEN');
      const member = await createKey(server, 'member');
      assertProblem(await server.request('GET', '/webhooks/signing-secret', { key: member }), 403, 'FORBIDDEN');
    });

    it('delivers each event to the subscriptions whose event types match, signed with their secrets', async () => {
      const completedOnly = await subscribe(server, receiver, '/completed', { event_types: ['workflow.completed'] });
      const steps = await subscribe(server, receiver, '/steps', { event_types: ['step.completed', 'step.started'] });
      const empty = await subscribe(server, receiver, '/empty', { event_types: [] });
      const star = await subscribe(server, receiver, '/star', { event_types: ['*'] });
      await subscribe(server, receiver, '/disabled', { enabled: false });
      const executionId = await runAdhoc(server, simpleDefinition('Filtered'), { value: 2 });
      await waitForExecution(server, executionId, ['completed']);
      const events = await eventsOf(server, executionId);
      const expected = (types: readonly string[]) => events.filter((event) => types.includes(event.type));

      for (const [path, id, types] of [
        ['/completed', completedOnly.id, ['workflow.completed']],
        ['/steps', steps.id, ['step.completed', 'step.started']],
        ['/empty', empty.id, EXECUTION_EVENT_TYPES],
        ['/star', star.id, EXECUTION_EVENT_TYPES],
      ] as const) {
        const log = await waitForSettledDeliveries(server, `/webhooks/${id}/deliveries`, expected(types).length);
        assert.ok(
          log.every((item) => item.status === 'delivered'),
          path,
        );
        const got = distinctRequests(receiver, path, log);
        assert.deepEqual(
          got.map((request) => request.payload.type).sort(),
          expected(types)
            .map((event) => event.type)
            .sort(),
          path,
        );
        for (const request of receiver.at(path)) assert.equal(request.verified, true, `${path}: ${request.verified}`);
      }
      assert.equal(receiver.at('/disabled').length, 0);

      const [completed] = receiver.at('/completed');
      assert.deepEqual(Object.keys(completed?.payload ?? {}), ['type', 'timestamp', 'data']);
      assert.equal(completed?.payload.data.execution_id, executionId);
      assert.equal(completed?.payload.data.status, 'completed');
      assert.equal(
        completed?.payload.timestamp,
        events.find((event) => event.type === 'workflow.completed')?.created_at,
      );
      const log = await deliveries(server, `/webhooks/${completedOnly.id}/deliveries`);
      assert.equal(log.length, 1);
      assert.equal(log[0].id, completed?.id, 'the delivery id is the webhook-id');
      assert.deepEqual(log[0].payload, completed?.payload);
      // One attempt, unless a loaded machine made the first one time out.
      const last = log[0].attempts.at(-1);
      assert.equal(last.attempt, log[0].attempts.length);
      assert.equal(last.status_code, 200);
      assert.equal(typeof last.latency_ms, 'number');
      assert.equal(last.error, null);
      assert.equal(log[0].execution_id, executionId);
    });

    it("sends workflow events to the execution's webhook_url, step events too without suppress_step_events", async () => {
      const secret = (await server.request('GET', '/webhooks/signing-secret')).body.secret as string;
      assert.match(secret, /^whsec_/);
      receiver.setSecret('/suppressed', secret);
      receiver.setSecret('/everything', secret);
      receiver.setSecret('/from-workflow', secret);
      const suppressed = await runAdhoc(
        server,
        { ...simpleDefinition('Quiet'), webhook_url: `${receiver.url}/suppressed` },
        { value: 1 },
      );
      const loud = await server.request('POST', '/executions', {
        body: {
          definition: { ...simpleDefinition('Loud'), suppress_step_events: false },
          input: { value: 1 },
          webhook_url: `${receiver.url}/everything`,
        },
      });
      const workflow = await server.request('POST', '/workflows', { body: simpleDefinition('Patched url') });
      await server.request('PATCH', `/workflows/${workflow.body.id}`, {
        body: { webhook_url: `${receiver.url}/from-workflow` },
      });
      const fromWorkflow = await server.request('POST', `/workflows/${workflow.body.id}/executions`, {
        body: { input: { value: 3 } },
      });
      assert.equal(fromWorkflow.body.webhook_url, `${receiver.url}/from-workflow`);

      for (const [path, id, types] of [
        ['/suppressed', suppressed, EXECUTION_EVENT_TYPES.filter((type) => type.startsWith('workflow.'))],
        ['/everything', loud.body.id as string, EXECUTION_EVENT_TYPES],
        [
          '/from-workflow',
          fromWorkflow.body.id as string,
          EXECUTION_EVENT_TYPES.filter((type) => type.startsWith('workflow.')),
        ],
      ] as const) {
        await waitForExecution(server, id, ['completed']);
        const expected = (await eventsOf(server, id)).filter((event) =>
          (types as readonly string[]).includes(event.type),
        );
        // Subscriptions of the tests before receive these events too: only the webhook_url's count.
        const log = await waitForSettledDeliveries(
          server,
          `/executions/${id}/deliveries`,
          expected.length,
          (item) => item.webhook_id === null,
        );
        assert.ok(
          log.every((item) => item.status === 'delivered' && item.url === `${receiver.url}${path}`),
          path,
        );
        assert.ok(expected.some((event) => event.type.startsWith('step.')) === (path === '/everything'));
        const got = distinctRequests(receiver, path, log);
        assert.deepEqual(got.map((request) => request.payload.type).sort(), expected.map((event) => event.type).sort());
        for (const request of receiver.at(path)) assert.equal(request.verified, true, `${path}: ${request.verified}`);
      }
    });

    it('signs with the old and the new secret for a while after a rotation', async () => {
      const before = (await server.request('GET', '/webhooks/signing-secret')).body;
      const rotated = await server.request('POST', '/webhooks/signing-secret/rotate');
      assert.equal(rotated.status, 200, rotated.text);
      assert.notEqual(rotated.body.secret, before.secret);
      assert.ok(Date.parse(rotated.body.previous_secret_expires_at) > Date.now() + 23 * 3600 * 1000);
      receiver.setSecret('/rotated', rotated.body.secret);
      const id = await runAdhoc(
        server,
        { ...simpleDefinition('Rotated'), webhook_url: `${receiver.url}/rotated` },
        { value: 1 },
      );
      await waitUntil(() => receiver.at('/rotated').length >= 2, 'the rotated deliveries');
      for (const request of receiver.at('/rotated')) {
        assert.equal(request.verified, true);
        assert.equal(request.signature.split(' ').length, 2);
        const headers = {
          'webhook-id': request.id,
          'webhook-timestamp': request.timestamp,
          'webhook-signature': request.signature,
        };
        assert.doesNotThrow(
          () => new Webhook(before.secret).verify(request.raw, headers),
          'the old secret verifies too',
        );
      }
      await waitForExecution(server, id, ['completed']);
    });

    it('never follows redirects, bounds attempts by the timeout, and gives up after the last attempt', async () => {
      const redirect = await subscribe(server, receiver, '/redirect', { event_types: ['workflow.completed'] });
      const hang = await subscribe(server, receiver, '/hang', { event_types: ['workflow.completed'] });
      const id = await runAdhoc(server, simpleDefinition('Redirected'), { value: 1 });
      await waitForExecution(server, id, ['completed']);
      const [redirected] = await waitForSettledDeliveries(server, `/webhooks/${redirect.id}/deliveries`, 1);
      assert.equal(redirected.status, 'failed');
      assert.equal(redirected.attempts.length, FAST.webhookMaxAttempts);
      for (const attempt of redirected.attempts) {
        assert.equal(attempt.status_code, 302);
        assert.match(attempt.error, /redirect not followed/);
      }
      assert.equal(receiver.at('/elsewhere').length, 0, 'the redirect target was never called');
      const [hung] = await waitForSettledDeliveries(server, `/webhooks/${hang.id}/deliveries`, 1);
      assert.equal(hung.status, 'failed');
      assert.deepEqual(
        hung.attempts.map((attempt: { attempt: number; status_code: number | null; error: string }) => [
          attempt.attempt,
          attempt.status_code,
          attempt.error,
        ]),
        [1, 2, 3].map((attempt) => [attempt, null, `timed out after ${FAST.webhookTimeoutMs} ms`]),
      );
      const failed = await server.request('GET', `/webhooks/${hang.id}/deliveries?status=failed`);
      assert.equal(failed.body.items.length, 1);
      const pending = await server.request('GET', `/webhooks/${hang.id}/deliveries?status=pending`);
      assert.equal(pending.body.items.length, 0);
    });

    it("answers 404 for another workspace's webhooks and execution deliveries", async () => {
      const other = await server.request('POST', '/workspaces', { body: { slug: 'webhook-b', name: 'B' } });
      const inB = { 'x-workspace-id': other.body.id };
      const hook = await server.request('POST', '/webhooks', { body: { url: 'http://127.0.0.1:9/b' }, headers: inB });
      const execution = await server.request('POST', '/executions', {
        body: { definition: simpleDefinition('B run'), input: { value: 1 } },
        headers: inB,
      });
      const member = await createKey(server, 'member');
      const admin = await createKey(server, 'admin');
      for (const key of [server.adminKey, admin, member]) {
        assertProblem(await server.request('GET', `/webhooks/${hook.body.id}`, { key }), 404, 'NOT_FOUND');
        assertProblem(
          await server.request('PATCH', `/webhooks/${hook.body.id}`, { key, body: { enabled: false } }),
          404,
          'NOT_FOUND',
        );
        assertProblem(await server.request('DELETE', `/webhooks/${hook.body.id}`, { key }), 404, 'NOT_FOUND');
        assertProblem(await server.request('GET', `/webhooks/${hook.body.id}/deliveries`, { key }), 404, 'NOT_FOUND');
        assertProblem(
          await server.request('GET', `/executions/${execution.body.id}/deliveries`, { key }),
          404,
          'NOT_FOUND',
        );
        const list = await server.request('GET', '/webhooks', { key });
        assert.equal(list.text.includes(hook.body.id), false);
      }
      const still = await server.request('GET', `/webhooks/${hook.body.id}`, { headers: inB });
      assert.equal(still.body.enabled, true);
    });
  });
}

for (const backend of testBackends()) {
  describe(`webhook dispatcher wake-ups (${backend})`, () => {
    let server: TestServer;
    let receiver: WebhookReceiver;

    before(async () => {
      // A poll and a retry delay far beyond the test: only the outbox's announcement can wake it.
      server = await startTestServer(backend, { pollIntervalMs: 60_000, webhookRetryBaseMs: 60_000 });
      receiver = await startWebhookReceiver((request) => (request.path === '/down' ? 503 : 200));
    });
    after(async () => {
      await server.close();
      await receiver.close();
    });

    it('sends as soon as a delivery is queued, without waiting for the poll', async () => {
      await subscribe(server, receiver, '/up', { event_types: ['workflow.completed'] });
      const started = Date.now();
      await runAdhoc(server, simpleDefinition('Prompt'), { value: 1 });
      await waitUntil(() => receiver.at('/up').length === 1, 'the delivery', 5000);
      assert.ok(Date.now() - started < 5000);
      assert.equal(receiver.at('/up')[0]?.verified, true);
    });

    it('cancels the pending deliveries of a subscription that is disabled', async () => {
      const down = await subscribe(server, receiver, '/down', { event_types: ['workflow.completed'] });
      await runAdhoc(server, simpleDefinition('Down'), { value: 1 });
      const path = `/webhooks/${down.id}/deliveries`;
      await waitUntil(async () => (await deliveries(server, path))[0]?.attempts.length === 1, 'the first attempt');
      const [waiting] = await deliveries(server, path);
      assert.equal(waiting.status, 'pending');
      assert.equal(waiting.attempts[0].status_code, 503);
      assert.ok(Date.parse(waiting.next_attempt_at) > Date.now() + 30_000, 'the retry waits for the backoff');
      await server.request('PATCH', `/webhooks/${down.id}`, { body: { enabled: false } });
      const [cancelled] = await deliveries(server, path);
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(cancelled.next_attempt_at, null);
      assert.ok(cancelled.completed_at);
    });
  });
}
