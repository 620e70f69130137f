import type { Store } from '../store/store.js';
import {
  checkStartInput,
  insertExecutions,
  type PreparedExecution,
  prepareExecution,
  type StartExecution,
} from './lifecycle.js';

/**
 * Group commit for starts: executions started together (a burst of API calls or triggered events)
 * are inserted in one transaction, so a burst costs a few commits, not one each. A bad input is
 * rejected before anything is written.
 */
export class StartBatcher {
  #waiting: Array<{
    prepared: PreparedExecution;
    resolve: (rows: PreparedExecution) => void;
    reject: (error: unknown) => void;
  }> = [];
  #flushing: Promise<void> | undefined;

  /** `onInserted` runs after each committed batch (the engine wakes to run the new steps). */
  constructor(
    private readonly store: Store,
    private readonly onInserted: () => void,
  ) {}

  /** Starts an execution; resolves with its rows as inserted once they are committed. */
  async start(request: StartExecution): Promise<PreparedExecution> {
    const prepared = prepareExecution(await checkStartInput(request));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ prepared, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  async #flush(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, 500);
        try {
          await this.store.transaction((tx) =>
            insertExecutions(
              tx,
              batch.map((entry) => entry.prepared),
            ),
          );
          for (const entry of batch) entry.resolve(entry.prepared);
          this.onInserted();
        } catch (error) {
          for (const entry of batch) entry.reject(error);
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }
}
