import type { Store } from '../store/store.js';
import {
  checkStartInput,
  insertCheckedExecutions,
  type PreparedExecution,
  prepareExecution,
  type StartExecution,
} from './start-execution.js';
import { StaleWorkflowError, staleStarts } from './workflow-heads.js';

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
          // A start whose workflow changed since its head was read fails alone (its route
          // starts it again); the rest of the batch goes in.
          const stale = await this.store.transaction(async (tx) => {
            const staleOnes = new Set(
              await staleStarts(
                tx,
                batch.map((entry) => entry.prepared),
              ),
            );
            await insertCheckedExecutions(
              tx,
              batch.filter((entry) => !staleOnes.has(entry.prepared)).map((entry) => entry.prepared),
            );
            return staleOnes;
          });
          for (const entry of batch) {
            const head = entry.prepared.head;
            if (head && stale.has(entry.prepared)) entry.reject(new StaleWorkflowError(head.id));
            else entry.resolve(entry.prepared);
          }
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
