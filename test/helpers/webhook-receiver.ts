import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/**
 * A webhook receiver for tests: a real HTTP server on loopback that records every request with
 * its raw body and verifies its Standard Webhooks signature with the `standardwebhooks` library
 * (the same check a user's receiver makes), against the secret of the path it arrived on.
 */

/** One request the receiver got. */
export interface ReceivedWebhook {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  raw: string;
  // biome-ignore lint/suspicious/noExplicitAny: payloads are asserted field by field in the tests.
  payload: any;
  /** True when the signature verified with the path's secret; a message when it did not. */
  verified: true | string;
  /** The status the receiver answered. */
  status: number;
}

/** What the receiver answers: a status, optional headers, and a wait first (cut short when the sender leaves). */
export interface ReceiverReply {
  status: number;
  headers?: Record<string, string>;
  delayMs?: number;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Sets the secret that requests to `path` must be signed with. */
  setSecret(path: string, secret: string): void;
  /** Requests to `path`. */
  at(path: string): ReceivedWebhook[];
  close(): Promise<void>;
}

/** Starts a receiver; `answer` decides each reply (default 200), given the request and the count so far on its path. */
export async function startWebhookReceiver(
  answer: (request: Omit<ReceivedWebhook, 'status'>, countOnPath: number) => ReceiverReply | number = () => 200,
): Promise<WebhookReceiver> {
  const secrets = new Map<string, string>();
  const received: ReceivedWebhook[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      raw += chunk;
    });
    req.on('end', async () => {
      const path = req.url ?? '/';
      const header = (name: string) => String(req.headers[name] ?? '');
      const secret = secrets.get(path);
      let verified: true | string = 'no secret set for this path';
      if (secret) {
        try {
          new Webhook(secret).verify(raw, {
            'webhook-id': header('webhook-id'),
            'webhook-timestamp': header('webhook-timestamp'),
            'webhook-signature': header('webhook-signature'),
          });
          verified = true;
        } catch (error) {
          verified = (error as Error).message;
        }
      }
      let payload: unknown = raw;
      try {
        payload = JSON.parse(raw);
      } catch {
        // Kept as text: the test then fails on the payload's shape, with the text in the message.
      }
      const request: Omit<ReceivedWebhook, 'status'> = {
        path,
        id: header('webhook-id'),
        timestamp: header('webhook-timestamp'),
        signature: header('webhook-signature'),
        raw,
        payload,
        verified,
      };
      const count = received.filter((entry) => entry.path === path).length;
      const given = answer(request, count);
      const reply = typeof given === 'number' ? { status: given } : given;
      received.push({ ...request, status: reply.status });
      if (reply.delayMs) {
        // Waits, or less when the sender gives up (timeout, killed process).
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          timer = setTimeout(resolve, reply.delayMs);
          res.once('close', () => resolve());
        });
        clearTimeout(timer);
      }
      if (!res.destroyed) res.writeHead(reply.status, reply.headers).end('answer body');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    setSecret: (path, secret) => secrets.set(path, secret),
    at: (path) => received.filter((entry) => entry.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
