import type { FastifyBaseLogger } from 'fastify';
import type { SettleRequest, SettleResult } from './settle.js';
import { settleOneByOne } from './settle-one-by-one.js';

/** What the settle queue needs of its engine. */
export interface SettleQueueEngine {
  /** Settles a batch in one transaction. */
  settle(batch: SettleRequest[]): Promise<SettleResult>;
  /** Acts on what a committed settle decided (runs the steps it claimed, ...). */
  apply(result: SettleResult): void;
  isUnavailable(error: unknown): boolean;
  /** True once the engine stops: then `drain` writes what is left, not the background flush. */
  stopped(): boolean;
  logger: FastifyBaseLogger;
}

/**
 * Outcomes of the attempts run here, waiting to be settled. They are written in batches, each
 * batch what arrived while the last one was written, in one transaction. A batch the database
 * refuses as unavailable is kept and written again; one that fails otherwise is settled outcome
 * by outcome (settle-one-by-one.ts), so one bad outcome cannot hold the others back.
 */
export class SettleQueue {
  #queue: SettleRequest[] = [];
  /** Outcomes of the batch being written now (taken off `#queue`). */
  #settling = 0;
  #flushing: Promise<void> | undefined;

  constructor(private readonly engine: SettleQueueEngine) {}

  /** Outcomes waiting or being written. */
  get size(): number {
    return this.#queue.length + this.#settling;
  }

  /** The background flush under way, if any. */
  get flushing(): Promise<void> | undefined {
    return this.#flushing;
  }

  /** Queues an outcome; a flush starts on the next turn of the event loop unless one runs. */
  push(request: SettleRequest): void {
    this.#queue.push(request);
    if (!this.#flushing) this.#flushing = this.#flushSoon();
  }

  /** Writes what is left, in at most `rounds` batches (the engine is stopping). */
  async drain(rounds: number): Promise<void> {
    for (let round = 0; round < rounds && this.#queue.length > 0; round += 1) await this.#flush();
  }

  async #flushSoon(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    try {
      // Once stopping, `drain` writes what is left, in a bounded number of rounds.
      while (this.#queue.length > 0 && !this.engine.stopped()) await this.#flush();
    } finally {
      this.#flushing = undefined;
    }
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    this.#settling = batch.length;
    try {
      await this.#settleBatch(batch);
    } finally {
      this.#settling = 0;
    }
  }

  async #settleBatch(batch: SettleRequest[]): Promise<void> {
    const { engine } = this;
    try {
      engine.apply(await engine.settle(batch));
      return;
    } catch (error) {
      if (engine.isUnavailable(error)) {
        // Kept and written again; if this process dies first, the leases expire and the steps
        // run again elsewhere (at-least-once).
        engine.logger.error({ err: error, outcomes: batch.length }, 'the database is unavailable; settling again soon');
        this.#queue.unshift(...batch);
        await new Promise((resolve) => setTimeout(resolve, 500));
        return;
      }
      engine.logger.error(
        { err: error, outcomes: batch.length },
        'settling a batch failed; settling its outcomes one by one',
      );
    }
    await settleOneByOne(batch, {
      settle: (requests) => engine.settle(requests),
      apply: (result) => engine.apply(result),
      isUnavailable: (error) => engine.isUnavailable(error),
      requeue: (request) => this.#queue.push(request),
      logger: engine.logger,
    });
  }
}
