/**
 * Long polls waiting for work. Every announcement of queued work (from this process or, on
 * PostgreSQL, any other) bumps a generation and wakes every waiting poll, which then tries to
 * claim again: no sleep loop, and a poll returns as soon as its task is queued. A poll remembers
 * the generation it saw before its last claim, so work announced during that claim wakes it at
 * once instead of being missed.
 */
export class TaskWaiters {
  #generation = 0;
  #closed = false;
  readonly #waiting = new Set<() => void>();
  readonly #unsubscribe: () => void;

  /** `subscribe` registers a callback for work announcements and returns its unsubscribe. */
  constructor(subscribe: (listener: () => void) => () => void) {
    this.#unsubscribe = subscribe(() => this.#announce());
  }

  /** Set once the server closes: polls stop waiting. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Increases with every announcement. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Resolves when work is announced after `seenGeneration` (at once if it already was), at the
   * epoch-ms time `until`, or when `signal` aborts.
   */
  waitForWork(seenGeneration: number, until: number, signal?: AbortSignal): Promise<void> {
    if (this.#generation !== seenGeneration || signal?.aborted || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, until - Date.now()));
      signal?.addEventListener('abort', done, { once: true });
      this.#waiting.add(done);
    });
  }

  #announce(): void {
    this.#generation += 1;
    for (const wake of [...this.#waiting]) wake();
  }

  /** Releases every waiting poll and stops listening. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    for (const wake of [...this.#waiting]) wake();
  }
}
