import { isTerminal, TERMINAL_EXECUTION_STATUSES } from '../engine/states.js';
import { recordExecutionWait } from '../metrics/metrics.js';
import type { EventBus, LiveEvent } from './event-bus.js';

/**
 * Waiting for executions to end (start and wait, docs/api.md). A waiter is woken by the event
 * that announces the end (`workflow.completed`, `.failed`, `.cancelled`) through the event bus —
 * on PostgreSQL that is LISTEN/NOTIFY, so an execution run by another process wakes it too — and
 * reads the execution again then. A periodic re-read backs the event up: announcements can be
 * missed while the listening connection is down, and it bounds how late a waiter learns of an
 * end whatever happens to the bus. The bus is subscribed to only while someone waits, and once
 * for all waiters (a map lookup per event, not a call per waiter).
 */

/** Event types that announce an execution's end, one per terminal status. */
const END_EVENT_TYPES: ReadonlySet<string> = new Set(TERMINAL_EXECUTION_STATUSES.map((status) => `workflow.${status}`));

/** How often a waiter reads its execution again without having heard of its end. */
export const END_RECHECK_MS = 1000;

/** What one wait needs. */
export interface EndWait<T extends { status: string }> {
  /** Reads the execution as it is now; undefined when it is gone. */
  read: () => Promise<T | undefined>;
  /** When to stop waiting (epoch milliseconds). */
  until: number;
  /** Stops the wait early (the client left). */
  signal?: AbortSignal;
}

export class ExecutionEnds {
  /** Per execution id, the wake-up calls of its waiters. */
  readonly #waiters = new Map<string, Set<() => void>>();
  #subscription: Promise<() => Promise<void>> | undefined;
  #closed = false;

  constructor(
    private readonly bus: EventBus,
    private readonly onError: (error: unknown) => void,
    private readonly recheckMs = END_RECHECK_MS,
  ) {}

  /**
   * Waits until execution `executionId` has a terminal status, `until` passes, the signal aborts
   * or the server closes; resolves to its last reading (undefined when it is gone). Never throws
   * for the bus: without it, the periodic re-read still sees the end.
   */
  async waitFor<T extends { status: string }>(executionId: string, wait: EndWait<T>): Promise<T | undefined> {
    let wake: (() => void) | undefined;
    // An end heard while the execution was being read must not wait for the next re-read.
    let heard = false;
    const poke = () => {
      heard = true;
      wake?.();
    };
    this.#add(executionId, poke);
    recordExecutionWait(1);
    try {
      await this.#listen();
      for (;;) {
        heard = false;
        const row = await wait.read();
        const left = wait.until - Date.now();
        if (!row || isTerminal(row.status) || left <= 0 || wait.signal?.aborted || this.#closed) return row;
        if (heard) continue;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            wait.signal?.removeEventListener('abort', done);
            wake = undefined;
            resolve();
          };
          const timer = setTimeout(done, Math.min(left, this.recheckMs));
          wait.signal?.addEventListener('abort', done, { once: true });
          wake = done;
        });
      }
    } finally {
      recordExecutionWait(-1);
      this.#remove(executionId, poke);
    }
  }

  /** Start requests waiting now (on this process). */
  get waiting(): number {
    let count = 0;
    for (const waiters of this.#waiters.values()) count += waiters.size;
    return count;
  }

  /** Ends every wait (each answers its last reading) and refuses to wait from now on. */
  close(): void {
    this.#closed = true;
    this.#wakeAll();
  }

  #add(executionId: string, poke: () => void): void {
    const waiters = this.#waiters.get(executionId) ?? new Set();
    waiters.add(poke);
    this.#waiters.set(executionId, waiters);
  }

  #remove(executionId: string, poke: () => void): void {
    const waiters = this.#waiters.get(executionId);
    waiters?.delete(poke);
    if (waiters?.size === 0) this.#waiters.delete(executionId);
    if (this.#waiters.size > 0 || !this.#subscription) return;
    const subscription = this.#subscription;
    this.#subscription = undefined;
    subscription.then((unsubscribe) => unsubscribe()).catch(this.onError);
  }

  /** Subscribes to the bus unless already subscribed; a failure is reported and waits go on polling. */
  async #listen(): Promise<void> {
    this.#subscription ??= this.bus.subscribe(
      (event) => this.#receive(event),
      () => this.#wakeAll(),
    );
    const subscription = this.#subscription;
    try {
      await subscription;
    } catch (error) {
      if (this.#subscription === subscription) this.#subscription = undefined;
      this.onError(error);
    }
  }

  #receive(event: LiveEvent): void {
    if (!END_EVENT_TYPES.has(event.type)) return;
    for (const poke of this.#waiters.get(event.execution_id) ?? []) poke();
  }

  /** Events may have been missed (or the server closes): every waiter reads again. */
  #wakeAll(): void {
    for (const waiters of this.#waiters.values()) for (const poke of waiters) poke();
  }
}
