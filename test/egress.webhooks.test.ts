import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, waitForExecution, waitUntil } from './helpers/http-fixtures.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';

/**
 * Webhook deliveries under the egress policy: a URL is taken as given when a subscription or an
 * execution names it (no DNS then), and checked when a delivery is sent; a refused destination
 * is one failed attempt, with the reason, and not retried (the policy would refuse it again).
 */

for (const backend of testBackends()) {
  describe(`webhook deliveries under WEFT_EGRESS_PRIVATE=deny (${backend})`, () => {
    let server: TestServer;
    let receiver: WebhookReceiver;

    before(async () => {
      server = await startTestServer(backend, {
        pollIntervalMs: 250,
        egressPrivate: 'deny',
        // Retries, were there any, would come quickly and show in the log.
        webhookMaxAttempts: 3,
        webhookRetryBaseMs: 20,
      });
      receiver = await startWebhookReceiver();
    });
    after(async () => {
      await server.close();
      await receiver.close();
    });

    it('accepts destinations without resolving them', async () => {
      for (const url of ['http://no-such-host.invalid/hook', `${receiver.url}/later`]) {
        const created = await server.request('POST', '/webhooks', { body: { url, event_types: ['workflow.started'] } });
        assert.equal(created.status, 201, created.text);
        assert.equal((await server.request('DELETE', `/webhooks/${created.body.id}`)).status, 204);
      }
    });

    it('records a refused destination as one failed attempt with the reason, not retried', async () => {
      const subscription = await server.request('POST', '/webhooks', {
        body: { url: `${receiver.url}/hook`, event_types: ['workflow.completed'] },
      });
      assert.equal(subscription.status, 201, subscription.text);
      const id = await runAdhoc(server, simpleDefinition(), { value: 2 });
      await waitForExecution(server, id, ['completed']);
      // biome-ignore lint/suspicious/noExplicitAny: delivery items are asserted field by field.
      let items: any[] = [];
      await waitUntil(async () => {
        items = (await server.request('GET', `/webhooks/${subscription.body.id}/deliveries`)).body.items;
        return items.length === 1 && items[0].status !== 'pending';
      }, 'the delivery to settle');
      const [delivery] = items;
      assert.equal(delivery.status, 'failed');
      assert.equal(delivery.attempts.length, 1, JSON.stringify(delivery.attempts));
      const [attempt] = delivery.attempts;
      assert.equal(attempt.status_code, null);
      assert.match(
        attempt.error,
        /^egress refused: 127\.0\.0\.1 is a private address \(loopback\) and WEFT_EGRESS_PRIVATE=deny \(EGRESS_REFUSED, not retried\)$/,
      );
      // Long enough for a retry at 20 ms (±25%) to have happened, had there been one.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const again = (await server.request('GET', `/webhooks/${subscription.body.id}/deliveries`)).body.items;
      assert.equal(again[0].attempts.length, 1);
      assert.deepEqual(receiver.received, [], 'nothing reached the receiver');
    });
  });
}
