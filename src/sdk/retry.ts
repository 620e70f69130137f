import { retryDelayMs } from '../engine/scheduling-rules.js';
import { WeftApiError } from './api-error.js';

/** Backoff and waiting for the worker's retries of polls and results. */

/**
 * Exponential backoff: `baseMs`, doubling per failure up to `maxMs`, with jitter so workers spread
 * out (the same rule as step retries).
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  return retryDelayMs(
    { maxAttempts: Number.POSITIVE_INFINITY, backoff: 'exponential', delayMs: baseMs, maxDelayMs: maxMs, jitter: true },
    failures,
  );
}

/** Resolves after `ms`, or as soon as `signal` aborts (it never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Whether a failed call may succeed when repeated: network errors, 5xx and 429. */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof WeftApiError)) return true;
  return error.status >= 500 || error.status === 429;
}

/** Whether the server says this worker no longer holds the task (409 LEASE_LOST, or the task is gone). */
export function isLeaseLost(error: unknown): boolean {
  return error instanceof WeftApiError && (error.code === 'LEASE_LOST' || error.status === 404);
}

/** A promise with its resolve function outside (Node 20 has no Promise.withResolvers). */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}
