import { WebSocket } from 'undici';
import type { ApiProblem } from './api-error.js';
import { type ClientOptions, rootUrl } from './client.js';

/**
 * The live stream of one execution (`GET /api/v1/executions/{id}/stream`, docs/streams.md) for
 * Node: a WebSocket that sends the key in `Authorization` (undici's client can set headers, which a
 * browser's cannot). Kept out of `client.ts`, which the web UI bundles: the browser has its own
 * WebSocket.
 */

/** A message of a stream: the `execution.snapshot` that opens it, an event, or an `error` before a refusal. */
export interface StreamMessage {
  /** The event's id (events only). */
  id?: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/** How a stream ended. */
export interface StreamClose {
  /** 4000 + the HTTP status for a refusal (4401, 4403, 4404), 1001 or 1012 to reconnect, 1006 for a dropped connection. */
  code: number;
  reason: string;
  /** The problem+json body of the `error` message sent before a refusal. */
  problem: ApiProblem | undefined;
}

/** An open execution stream. */
export interface ExecutionStream {
  /** Resolves once the stream has ended, however it ended (it never rejects). */
  readonly closed: Promise<StreamClose>;
  /** Closes the stream (an execution stream stays open after the execution ends). */
  close(): void;
}

/**
 * Opens the live stream of an execution; `onMessage` receives every message in order, the
 * snapshot first. A refused stream (unknown key, another workspace's execution) ends with a 44xx
 * code and the problem; one that drops or that the server asks to reconnect (1001, 1012) ends with
 * that code: open a new one, whose snapshot covers what was missed.
 */
export function openExecutionStream(
  options: ClientOptions,
  executionId: string,
  onMessage: (message: StreamMessage) => void,
): ExecutionStream {
  const url = `${rootUrl(options.baseUrl).replace(/^http/, 'ws')}/api/v1/executions/${encodeURIComponent(executionId)}/stream`;
  const headers: Record<string, string> = { authorization: `Bearer ${options.apiKey}` };
  if (options.workspaceId) headers['x-workspace-id'] = options.workspaceId;
  const socket = new WebSocket(url, { headers });
  let problem: ApiProblem | undefined;
  socket.addEventListener('message', (event) => {
    let message: StreamMessage;
    try {
      message = JSON.parse(String(event.data)) as StreamMessage;
    } catch {
      return; // not a message of Weft's: streams send JSON only
    }
    if (message.type === 'error') problem = message.data as unknown as ApiProblem;
    onMessage(message);
  });
  // A failed connection fires `error` and then `close` (1006): the close settles `closed`.
  socket.addEventListener('error', () => undefined);
  const closed = new Promise<StreamClose>((resolve) => {
    socket.addEventListener('close', (event) => resolve({ code: event.code, reason: event.reason, problem }));
  });
  return {
    closed,
    close() {
      if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.close(1000);
    },
  };
}
