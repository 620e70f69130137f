import type { ClaimedStep } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import { claimRoots, type StartClaimRoom } from './start-claims.js';
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
 * rejected before anything is written. The root steps the engine has room for are inserted
 * claimed by it (start-claims.ts), so they start without a claim transaction of their own.
 */

/** The engine, as the batcher sees it. */
export interface StartBatchEngine {
  /** Room for steps claimed at start now; undefined when the engine does not run steps. */
  room(): StartClaimRoom | undefined;
  /**
   * After each committed batch: the steps claimed at start, to run here, and whether any step
   * was left for a claim (the engine then looks for due work).
   */
  inserted(claimed: ClaimedStep[], leftWork: boolean): void;
}
export class StartBatcher {
  #waiting: Array<{
    prepared: PreparedExecution;
    resolve: (rows: PreparedExecution) => void;
    reject: (error: unknown) => void;
  }> = [];
  #flushing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly engine: StartBatchEngine,
  ) {}

  /** The batch being written, if any (`Engine.stop` waits for the steps it may claim). */
  get flushing(): Promise<void> | undefined {
    return this.#flushing;
  }

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
          const { stale, inserted, claimed, leftWork } = await this.store.transaction(async (tx) => {
            const staleOnes = new Set(
              await staleStarts(
                tx,
                batch.map((entry) => entry.prepared),
              ),
            );
            const fresh = batch.filter((entry) => !staleOnes.has(entry.prepared)).map((entry) => entry.prepared);
            // The room is read in the transaction, as close to the insert as it can be.
            const room = this.engine.room();
            const marked = room ? claimRoots(fresh, room) : { prepared: fresh, claimed: [] };
            const leftWork = await insertCheckedExecutions(tx, marked.prepared, marked.claimed);
            const rows = new Map(fresh.map((entry, index) => [entry, marked.prepared[index] ?? entry]));
            return { stale: staleOnes, inserted: rows, claimed: marked.claimed, leftWork };
          });
          for (const entry of batch) {
            const head = entry.prepared.head;
            if (head && stale.has(entry.prepared)) entry.reject(new StaleWorkflowError(head.id));
            else entry.resolve(inserted.get(entry.prepared) ?? entry.prepared);
          }
          this.engine.inserted(claimed, leftWork);
        } catch (error) {
          for (const entry of batch) entry.reject(error);
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }
}
