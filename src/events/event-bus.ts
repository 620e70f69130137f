import type { Store } from '../store/store.js';

/**
 * Live execution events for streams. Every appended execution event is announced on
 * `weft_events` at commit — by a PostgreSQL trigger (so every process hears every other's) or by
 * the SQLite store — as its row in JSON. An announcement too large for NOTIFY carries no `data`
 * and is completed from the table here. The bus listens only while someone subscribes.
 */

/** An execution event as streams and webhooks show it. */
export interface LiveEvent {
  id: string;
  workspace_id: string;
  execution_id: string;
  type: string;
  step_id: string | null;
  data: Record<string, unknown>;
  created_at: string;
}

type Subscriber = (event: LiveEvent) => void;
/** Told when events may have been missed (the announcement connection was lost and is back). */
type GapListener = () => void;

interface Announcement extends Omit<LiveEvent, 'data'> {
  data?: Record<string, unknown>;
  truncated?: boolean;
}

export class EventBus {
  readonly #subscribers = new Set<Subscriber>();
  readonly #gapListeners = new Map<Subscriber, GapListener>();
  #listening: Promise<() => Promise<void>> | undefined;
  /** Announcements are handled one after another so a fetched (truncated) one keeps its place. */
  #chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Calls `subscriber` with every event committed from now on (all workspaces: filter it). */
  async subscribe(subscriber: Subscriber, onGap?: GapListener): Promise<() => Promise<void>> {
    this.#subscribers.add(subscriber);
    if (onGap) this.#gapListeners.set(subscriber, onGap);
    this.#listening ??= this.store.notifier.listen((_channel, payload) => this.#receive(payload), ['weft_events']);
    try {
      await this.#listening;
    } catch (error) {
      // Not listening after all: the next subscriber tries again instead of inheriting the failure.
      this.#listening = undefined;
      this.#subscribers.delete(subscriber);
      this.#gapListeners.delete(subscriber);
      throw error;
    }
    return async () => {
      this.#subscribers.delete(subscriber);
      this.#gapListeners.delete(subscriber);
      if (this.#subscribers.size === 0 && this.#listening) {
        const listening = this.#listening;
        this.#listening = undefined;
        await (await listening)();
      }
    };
  }

  #receive(payload: string): void {
    this.#chain = this.#chain.then(async () => {
      if (payload === '') {
        for (const onGap of this.#gapListeners.values()) onGap();
        return;
      }
      try {
        const announced = JSON.parse(payload) as Announcement;
        let event: LiveEvent | undefined;
        if (announced.truncated || announced.data === undefined) {
          event = await this.store.executionLog.get(announced.id);
        } else {
          event = { ...announced, data: announced.data };
        }
        if (!event) return;
        for (const subscriber of this.#subscribers) subscriber(event);
      } catch (error) {
        this.onError(error);
      }
    });
  }

  /** Stops listening. */
  async close(): Promise<void> {
    this.#subscribers.clear();
    const listening = this.#listening;
    this.#listening = undefined;
    if (listening) await (await listening)();
  }
}
