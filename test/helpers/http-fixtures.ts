import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestServer } from './api-server.js';

/** A real HTTP server on loopback for tests, recording every request it answers. */
export interface FixtureServer {
  url: string;
  requests: Array<{ method: string; path: string; body: unknown }>;
  close(): Promise<void>;
}

/** What a fixture handler answers: status, JSON or text body, optional delay. */
export interface FixtureReply {
  status?: number;
  json?: unknown;
  text?: string;
  contentType?: string;
}

/** Starts a fixture server; `handle` decides each answer (it may wait, e.g. to hang until aborted). */
export async function startFixtureServer(
  handle: (request: {
    method: string;
    path: string;
    body: unknown;
    raw: http.IncomingMessage;
  }) => Promise<FixtureReply> | FixtureReply,
): Promise<FixtureServer> {
  const requests: FixtureServer['requests'] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (chunk) => {
      data += chunk;
    });
    req.on('end', async () => {
      let body: unknown = data;
      try {
        body = data ? JSON.parse(data) : null;
      } catch {
        body = data;
      }
      const entry = { method: req.method ?? 'GET', path: req.url ?? '/', body };
      requests.push(entry);
      try {
        const reply = await handle({ ...entry, raw: req });
        const payload = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.text ?? '');
        const type = reply.contentType ?? (reply.json !== undefined ? 'application/json' : 'text/plain');
        if (!res.headersSent && !res.destroyed)
          res.writeHead(reply.status ?? 200, { 'content-type': type }).end(payload);
      } catch (error) {
        if (!res.destroyed) res.writeHead(500).end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls an execution until its status is one of `statuses`; returns the full execution. */
export async function waitForExecution(server: TestServer, id: string, statuses: string[], timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await server.request('GET', `/executions/${id}`);
    if (statuses.includes(response.body.status)) return response.body;
    if (Date.now() > deadline) {
      throw new Error(
        `execution ${id} is '${response.body.status}', not ${statuses.join('/')}: ${response.text.slice(0, 2000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Polls until `check` holds: every 20 ms, or after as long as the check itself took when that is
 * longer. A check that lists hundreds of executions through a server is then not repeated back to
 * back, taking the CPU from the server it waits for (the suite runs four files on two cores).
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const started = Date.now();
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    const pause = Math.max(20, Date.now() - started);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

/** Starts an ad-hoc execution and returns its id. */
export async function runAdhoc(server: TestServer, definition: unknown, input: unknown = {}): Promise<string> {
  const response = await server.request('POST', '/executions', { body: { definition, input } });
  if (response.status !== 202) throw new Error(`ad-hoc start failed: ${response.status} ${response.text}`);
  return response.body.id;
}

/** A step of an execution view, as tests read it. */
export interface StepView {
  status: string;
  attempts: number;
  // biome-ignore lint/suspicious/noExplicitAny: step outputs have any shape; tests assert on them.
  output: any;
  // biome-ignore lint/suspicious/noExplicitAny: step errors likewise.
  error: any;
  used_fallback: boolean;
  skip_reason: string | null;
}

/** The step of an execution view by id. */
export function stepOf(execution: { steps: Array<{ step_id: string }> }, id: string): StepView {
  const step = execution.steps.find((candidate) => candidate.step_id === id);
  if (!step) throw new Error(`no step ${id}`);
  return step as unknown as StepView;
}
