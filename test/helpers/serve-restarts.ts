import { type ApiResponse, sendRequest } from './api-server.js';
import type { TestDatabase } from './backends.js';
import { startFixtureServer } from './http-fixtures.js';
import type { ServeProcess } from './processes.js';

/** Helpers of the restart and crash-loop tests: `weft serve` children killed with SIGKILL. */

export const ADMIN_KEY = 'restart-test-admin-key-0123456789abcdef';

export function api(url: string, method: string, route: string, body?: unknown): Promise<ApiResponse> {
  return sendRequest(url, method, route, { key: ADMIN_KEY, body });
}

/**
 * Leases of 30 s (the default): a restart that waited them out would take the tests' whole budget.
 * A 250 ms poll, like the in-process servers': a restart takes its predecessors' steps back at
 * start, not at a poll, and at 100 ms these seven files used about 5% more CPU (79–81 against 76
 * cpu-s, two runs each).
 */
export function serveEnv(database: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    WEFT_DATABASE_URL: database.config.databaseUrl,
    WEFT_DATA_DIR: database.config.dataDir,
    WEFT_ADMIN_KEY: ADMIN_KEY,
    WEFT_LEASE_MS: '30000',
    WEFT_POLL_INTERVAL_MS: '250',
    WEFT_LOG_LEVEL: 'warn',
    WEFT_NODE_ID: 'restart-node-a',
    ...extra,
  };
}

/**
 * Calls `call` on every item, `size` at a time, and returns the results in the items' order. Tests
 * that start or check hundreds of executions through real processes spent most of their time on
 * one request after the other.
 */
export async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  call: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += size) {
    const batch = items.slice(start, start + size);
    results.push(...(await Promise.all(batch.map((item, offset) => call(item, start + offset)))));
  }
  return results;
}

export async function countByStatus(url: string, status: string): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const page: ApiResponse = await api(
      url,
      'GET',
      `/executions?status=${status}&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
    );
    count += page.body.items.length;
    cursor = page.body.next_cursor;
  } while (cursor);
  return count;
}

/** A server whose first `hold` requests never get an answer (until it closes); later ones are answered. */
export async function startHangingServer(hold: number) {
  let calls = 0;
  const callTimes: number[] = [];
  const server = await startFixtureServer(async () => {
    calls += 1;
    callTimes.push(Date.now());
    if (calls <= hold) await new Promise(() => undefined);
    return { json: { ok: true } };
  });
  return { server, callTimes, calls: () => calls };
}

/** Resolves with how `serve` exited (code or signal), or undefined when it still runs after `ms`. */
export async function exitWithin(serve: ServeProcess, ms: number): Promise<number | string | undefined> {
  const { child } = serve;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode ?? undefined;
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    new Promise<number | string | undefined>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? signal ?? undefined)),
    ),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]);
  clearTimeout(timer);
  return result;
}
