import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { sendWebhookAttempt } from '../src/events/webhook-sender.js';
import { generateWebhookSecret, signatureHeaders } from '../src/events/webhook-signing.js';
import { type ClaimedDelivery, deliveryPayload } from '../src/store/repositories/webhook-delivery-repository.js';

/** Signing and single attempts, without a database: what every delivery is made of. */

function delivery(url: string, secrets: string[]): ClaimedDelivery {
  return {
    id: 'dl_test',
    workspace_id: 'ws_test',
    webhook_id: null,
    execution_id: 'ex_test',
    event_type: 'workflow.completed',
    attempt: 1,
    url,
    secrets,
    payload: deliveryPayload('workflow.completed', '2025-01-01T00:00:00.000Z', '{"status":"completed"}'),
  };
}

describe('webhook signing', () => {
  it('makes Standard Webhooks secrets', () => {
    const secrets = new Set(Array.from({ length: 20 }, () => generateWebhookSecret()));
    assert.equal(secrets.size, 20);
    for (const secret of secrets) {
      assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.equal(Buffer.from(secret.slice('whsec_'.length), 'base64').length, 32);
    }
  });

  it('signs so that the library verifies with each secret given, and with no other', () => {
    const [current, previous, stranger] = [generateWebhookSecret(), generateWebhookSecret(), generateWebhookSecret()];
    const body = deliveryPayload('step.failed', '2025-01-01T00:00:00.000Z', '{"error":{"message":"x"}}');
    const headers = signatureHeaders([current, previous], 'dl_1', new Date(), body);
    assert.equal(headers['webhook-id'], 'dl_1');
    assert.match(headers['webhook-timestamp'], /^\d{10}$/);
    assert.equal(headers['webhook-signature'].split(' ').length, 2);
    assert.deepEqual(new Webhook(current).verify(body, headers), JSON.parse(body));
    assert.deepEqual(new Webhook(previous).verify(body, headers), JSON.parse(body));
    assert.throws(() => new Webhook(stranger).verify(body, headers), /No matching signature/);
    assert.throws(() => new Webhook(current).verify(`${body} `, headers), /No matching signature/);
    assert.throws(() => signatureHeaders([], 'dl_1', new Date(), body), /no secret/);
  });

  it('builds the payload {type, timestamp, data} from the stored event', () => {
    const payload = deliveryPayload('step.completed', '2025-01-01T00:00:00.000Z', '{"step_id":"a","output":[1]}');
    assert.deepEqual(JSON.parse(payload), {
      type: 'step.completed',
      timestamp: '2025-01-01T00:00:00.000Z',
      data: { step_id: 'a', output: [1] },
    });
  });
});

describe('one webhook attempt', () => {
  it('describes answers and failures: 2xx, other statuses, redirects, refused connections', async () => {
    const secret = generateWebhookSecret();
    const server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => {
        raw += chunk;
      });
      req.on('end', () => {
        const headers = req.headers as Record<string, string>;
        const valid = (() => {
          try {
            new Webhook(secret).verify(raw, headers);
            return true;
          } catch {
            return false;
          }
        })();
        if (!valid) return res.writeHead(401).end('bad signature');
        if (req.url === '/ok') return res.writeHead(204).end();
        if (req.url === '/moved') return res.writeHead(301, { location: 'http://127.0.0.1:9/x' }).end();
        res.writeHead(500).end(`failed ${'x'.repeat(1000)}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const ok = await sendWebhookAttempt(delivery(`${base}/ok`, [secret]), 2000);
      assert.equal(ok.statusCode, 204);
      assert.equal(ok.error, null);
      assert.ok(ok.latencyMs >= 0 && Number.isInteger(ok.latencyMs));
      const moved = await sendWebhookAttempt(delivery(`${base}/moved`, [secret]), 2000);
      assert.deepEqual([moved.statusCode, moved.error], [301, 'redirect not followed (to http://127.0.0.1:9/x)']);
      const failed = await sendWebhookAttempt(delivery(`${base}/fail`, [secret]), 2000);
      assert.equal(failed.statusCode, 500);
      assert.match(failed.error ?? '', /^HTTP 500: failed x+$/);
      assert.ok((failed.error ?? '').length < 320, 'the error keeps only the start of the body');
      const unsigned = await sendWebhookAttempt(delivery(`${base}/ok`, [generateWebhookSecret()]), 2000);
      assert.equal(unsigned.statusCode, 401);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    // A port nothing listens on (taken, then freed).
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await sendWebhookAttempt(delivery(`http://127.0.0.1:${port}/`, [secret]), 2000);
    assert.equal(refused.statusCode, null);
    assert.match(refused.error ?? '', /ECONNREFUSED/);
  });
});
