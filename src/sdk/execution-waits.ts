import { isTerminal } from '../engine/states.js';
import { unwrap, WeftApiError } from './api-error.js';
import type { RawClient } from './client.js';
import type { Execution, StartExecutionRequest } from './types.js';

/**
 * Waiting for executions to end from the SDK (docs/sdk.md, waiting for results):
 * `startAndWait` starts and waits in slices of at most 60 s with the start route's
 * `wait_seconds` (the server answers the moment the execution ends); `result` waits for an
 * execution already started by polling its status with backoff. Both resolve to the completed
 * execution and throw `ExecutionFailedError` (carrying the execution) when it failed or was
 * cancelled, and `ExecutionWaitTimeoutError` when `timeoutSeconds` passed first.
 */

/** The longest one start request waits (the server's cap on `wait_seconds`). */
const MAX_WAIT_SLICE_SECONDS = 60;
/** Repeats of a start reuse its idempotency key; the server keeps keys 24 h, so they stop well before. */
const REPEAT_WINDOW_MS = 12 * 60 * 60 * 1000;
/** Polling of `result()`: first pause, growth per poll and longest pause. */
const FIRST_POLL_MS = 200;
const POLL_GROWTH = 1.5;
const LONGEST_POLL_MS = 5000;

/** How long to wait, and how to give up early. */
export interface WaitOptions {
  /** Give up after this many seconds with `ExecutionWaitTimeoutError`; unset waits until it ends. */
  timeoutSeconds?: number;
  /** Aborts the wait (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** The execution ended without completing (`failed` or `cancelled`); `execution` is the final one. */
export class ExecutionFailedError extends Error {
  /** The execution as it ended, with its `error` and steps. */
  readonly execution: Execution;
  /** `failed` (a step failed, or the workflow timed out) or `cancelled`. */
  readonly status: 'failed' | 'cancelled';

  constructor(execution: Execution) {
    const error = execution.error as { message?: unknown } | null;
    const reason = typeof error?.message === 'string' ? `: ${error.message}` : '';
    super(`execution ${execution.id} ${execution.status}${reason}`);
    this.name = 'ExecutionFailedError';
    this.execution = execution;
    this.status = execution.status as 'failed' | 'cancelled';
  }
}

/** `timeoutSeconds` passed before the execution ended; `execution` is its last reading (it goes on). */
export class ExecutionWaitTimeoutError extends Error {
  readonly execution: Execution;

  constructor(execution: Execution, timeoutSeconds: number | undefined) {
    super(`execution ${execution.id} was still ${execution.status} after ${timeoutSeconds ?? 0} s`);
    this.name = 'ExecutionWaitTimeoutError';
    this.execution = execution;
  }
}

/**
 * A random idempotency key. Web Crypto's `getRandomValues`, not `node:crypto` (the web UI bundles
 * this client) nor `randomUUID` (browsers offer it on secure origins only).
 */
function randomKey(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return `sdk-wait-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/** The completed execution, or the error its end calls for. */
function outcome(execution: Execution): Execution {
  if (execution.status === 'completed') return execution;
  throw new ExecutionFailedError(execution);
}

function deadlineOf(options: WaitOptions): number {
  return options.timeoutSeconds === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutSeconds * 1000;
}

/** Seconds left before `deadline`, as one start request may wait them. */
function sliceSeconds(deadline: number): number {
  return Math.max(0, Math.min(MAX_WAIT_SLICE_SECONDS, Math.ceil((deadline - Date.now()) / 1000)));
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Starts an execution of a saved workflow and waits for it to end. Each request waits up to 60 s
 * (`wait_seconds`); while the execution runs on, the start is repeated with the same idempotency
 * key (the request's own, else a random one), which waits on the first execution and starts
 * nothing new. Past 12 hours, or when a repeat is refused (the workflow was disabled or deleted
 * meanwhile), it goes on as `result()`.
 */
export async function startAndWait(
  raw: RawClient,
  workflowId: string,
  request: StartExecutionRequest,
  options: WaitOptions,
): Promise<Execution> {
  const deadline = deadlineOf(options);
  const body = { ...request, idempotency_key: request.idempotency_key ?? randomKey() };
  const startedAt = Date.now();
  let latest: Execution | undefined;
  for (;;) {
    const call = raw.POST('/api/v1/workflows/{id}/executions', {
      params: { path: { id: workflowId }, query: { wait_seconds: sliceSeconds(deadline) } },
      body,
      signal: options.signal,
    });
    let execution: Execution;
    try {
      const { response } = await call;
      execution = await unwrap('POST', call);
      if (response.status === 200) return outcome(execution);
    } catch (error) {
      // A refused repeat (404, 409) says nothing about the execution the first request started.
      if (!latest || !(error instanceof WeftApiError) || error.status >= 500) throw error;
      return result(raw, latest.id, { ...options, timeoutSeconds: (deadline - Date.now()) / 1000 });
    }
    latest = execution;
    if (isTerminal(execution.status)) return outcome(execution);
    if (Date.now() >= deadline) throw new ExecutionWaitTimeoutError(execution, options.timeoutSeconds);
    if (Date.now() - startedAt > REPEAT_WINDOW_MS) {
      return result(raw, execution.id, { ...options, timeoutSeconds: (deadline - Date.now()) / 1000 });
    }
  }
}

/**
 * Waits for an existing execution to end: polls its status (200 ms, growing by half to 5 s
 * between reads), then reads it whole. Polling rather than a stream keeps the SDK free of a
 * WebSocket dependency (Node 20 has no global WebSocket) and works through any HTTP proxy.
 */
export async function result(raw: RawClient, executionId: string, options: WaitOptions): Promise<Execution> {
  const deadline = deadlineOf(options);
  const read = () =>
    unwrap(
      'GET',
      raw.GET('/api/v1/executions/{id}', { params: { path: { id: executionId } }, signal: options.signal }),
    ) as Promise<Execution>;
  let wait = FIRST_POLL_MS;
  for (;;) {
    const { status } = await unwrap(
      'GET',
      raw.GET('/api/v1/executions/{id}/status', { params: { path: { id: executionId } }, signal: options.signal }),
    );
    if (isTerminal(status)) return outcome(await read());
    const left = deadline - Date.now();
    if (left <= 0) throw new ExecutionWaitTimeoutError(await read(), options.timeoutSeconds);
    await pause(Math.min(wait, left), options.signal);
    wait = Math.min(LONGEST_POLL_MS, wait * POLL_GROWTH);
  }
}
