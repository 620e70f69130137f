import { WebSocket } from 'ws';
import { waitUntil } from './http-fixtures.js';

/** A message of a live stream, as tests read it. */
export interface StreamMessage {
  id?: string;
  type: string;
  timestamp: string;
  // biome-ignore lint/suspicious/noExplicitAny: message data has any shape; tests assert on it.
  data: any;
}

/** A WebSocket client of `/api/v1/...stream`, recording every message it receives. */
export interface StreamClient {
  messages: StreamMessage[];
  /** Set once the server closed the stream. */
  closed: { code: number; reason: string } | undefined;
  /** Waits for a message matching `predicate` (already received or still to come). */
  waitFor(predicate: (message: StreamMessage) => boolean, what: string, timeoutMs?: number): Promise<StreamMessage>;
  /** Waits until the server closes the stream; returns the code and reason. */
  waitClosed(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

/**
 * Opens a stream on `baseUrl` (http://…) at `path` under `/api/v1`; with `key` it is sent as
 * `Authorization: Bearer`. Resolves once the connection is open.
 */
export async function openStream(baseUrl: string, path: string, key?: string): Promise<StreamClient> {
  const url = `${baseUrl.replace(/^http/, 'ws')}/api/v1${path}`;
  const socket = new WebSocket(url, key ? { headers: { authorization: `Bearer ${key}` } } : {});
  const client: StreamClient = {
    messages: [],
    closed: undefined,
    async waitFor(predicate, what, timeoutMs = 15_000) {
      await waitUntil(() => client.messages.some(predicate), `${what} on ${path}`, timeoutMs);
      return client.messages.find(predicate) as StreamMessage;
    },
    async waitClosed(timeoutMs = 10_000) {
      await waitUntil(() => client.closed !== undefined, `the close of ${path}`, timeoutMs);
      return client.closed as { code: number; reason: string };
    },
    async close() {
      if (socket.readyState === socket.CLOSED) return;
      const done = new Promise((resolve) => socket.once('close', resolve));
      socket.close();
      await done;
    },
  };
  socket.on('message', (data) => client.messages.push(JSON.parse(String(data)) as StreamMessage));
  socket.on('close', (code, reason) => {
    client.closed = { code, reason: String(reason) };
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_request, response) =>
      reject(new Error(`the upgrade was refused with ${response.statusCode}`)),
    );
  });
  return client;
}

/** The event messages (not snapshots or errors) of a stream. */
export function eventsOf(client: StreamClient): StreamMessage[] {
  return client.messages.filter((message) => message.id !== undefined);
}
