import { isTerminal } from '../../engine/states.js';
import { WeftApiError } from '../../sdk/api-error.js';
import type { ClientOptions, WeftClient } from '../../sdk/client.js';
import { type ExecutionStream, openExecutionStream } from '../../sdk/execution-stream.js';
import type { Execution } from '../../sdk/types.js';
import { type ProgressOutput, ProgressView } from '../progress-view.js';
import { isUnreachable } from './server-options.js';
import { errorMessage } from './table.js';

/**
 * `weft executions watch` (and `start --watch`): follows an execution on a server until it ends,
 * drawing the same progress as `weft run`. The execution's live stream (docs/streams.md) says when
 * something changed; each change is read back with `GET /executions/{id}` (steps with their
 * attempts, the output and error at the end), so the view never adds events up itself. While the
 * stream is down it reconnects, and a read every few seconds keeps the view going meanwhile.
 */

/** Reads made without a stream message: the view keeps moving while the stream reconnects. */
const POLL_MS = 5_000;
/**
 * Wait before opening a new stream after one dropped or was closed by the server (1001, 1012),
 * doubled after each stream that brought nothing, up to MAX_RECONNECT_MS.
 */
const RECONNECT_MS = 1_000;
const MAX_RECONNECT_MS = 15_000;
/** Messages arriving this close together cost one read. */
const BURST_MS = 50;
/** How long the server may stay unreachable (a restart) before the watch gives up. */
const UNREACHABLE_MS = 60_000;

/**
 * Wakes the watcher on every stream message and keeps a stream open, reconnecting after a drop.
 * A refused stream (44xx: the key, the workspace, the execution) ends the watch with its problem.
 */
class StreamWakeups {
  #stream: ExecutionStream | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #pending = false;
  #wake: (() => void) | undefined;
  #failure: Error | undefined;
  #closed = false;
  /** Streams in a row that closed without a message. */
  #fruitless = 0;

  constructor(
    private readonly connection: ClientOptions,
    private readonly executionId: string,
  ) {
    this.#open();
  }

  #open(): void {
    const stream = openExecutionStream(this.connection, this.executionId, () => {
      this.#fruitless = 0;
      this.#signal();
    });
    this.#stream = stream;
    void stream.closed.then((close) => {
      if (this.#closed) return;
      if (close.code >= 4400 && close.code < 4500) {
        const request = `GET /api/v1/executions/${this.executionId}/stream`;
        // Without the `error` message (not Weft's server?), the close code still says the status.
        this.#failure = new WeftApiError(close.code - 4000, close.problem ?? close.reason, request);
        this.#signal();
        return;
      }
      const delay = Math.min(MAX_RECONNECT_MS, RECONNECT_MS * 2 ** this.#fruitless++);
      this.#reconnect = setTimeout(() => this.#open(), delay);
    });
  }

  #signal(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Resolves at the next stream message (at once if one came since the last call) or after `timeoutMs`. */
  async next(timeoutMs: number): Promise<void> {
    if (!this.#pending) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.#wake = undefined;
      await new Promise((resolve) => setTimeout(resolve, BURST_MS));
    }
    this.#pending = false;
    if (this.#failure) throw this.#failure;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#reconnect);
    this.#wake?.();
    this.#stream?.close();
  }
}

/**
 * Follows execution `id` until it has ended, drawing progress on `progress`; resolves to the
 * ended execution. API errors (an unknown id, a refused stream) reject as `WeftApiError`.
 */
export async function watchExecution(
  client: WeftClient,
  connection: ClientOptions,
  id: string,
  progress: ProgressOutput,
): Promise<Execution> {
  let execution = await client.executions.get(id);
  const view = new ProgressView(progress);
  const hinted = new Set<string>();
  const render = () => {
    view.render(execution.status, execution.steps ?? []);
    for (const step of execution.steps ?? []) {
      const signal = step.status === 'waiting' ? step.waiting_for_signal : null;
      if (!signal || hinted.has(signal)) continue;
      hinted.add(signal);
      view.note(`step ${step.step_id} waits for signal '${signal}': weft signal ${execution.id} ${signal}`);
    }
  };
  render();
  if (!isTerminal(execution.status)) {
    // Opened after the first read: its snapshot wakes the loop, so a change in between is read too.
    const wakeups = new StreamWakeups(connection, execution.id);
    try {
      let unreachableSince: number | undefined;
      while (!isTerminal(execution.status)) {
        await wakeups.next(POLL_MS);
        try {
          execution = await client.executions.get(id);
        } catch (error) {
          // A server restarting: keep trying (the stream reconnects too) for a while.
          if (!isUnreachable(error)) throw error;
          unreachableSince ??= Date.now();
          if (Date.now() - unreachableSince > UNREACHABLE_MS) throw error;
          continue;
        }
        unreachableSince = undefined;
        render();
      }
    } finally {
      wakeups.close();
    }
  }
  view.finish(execution.status, errorMessage(execution.error));
  return execution;
}
