/**
 * Wake-ups between processes: a store change that gives work to others (steps queued, an
 * execution cancelled) is announced on a channel. PostgreSQL carries them with LISTEN/NOTIFY
 * (delivered at commit); SQLite has one process, so they stay in it.
 */

/** Channels Weft announces on. `weft_webhooks`: deliveries were queued (the webhook dispatcher). */
export type NotifyChannel = 'weft_work' | 'weft_cancel' | 'weft_events' | 'weft_webhooks';

/** What the engine listens to; `weft_events` (every appended event) only streams subscribe to. */
export const ENGINE_CHANNELS: readonly NotifyChannel[] = ['weft_work', 'weft_cancel'];

/**
 * Receives announcements. An empty payload after a reconnect means announcements may have been
 * missed while the connection was down.
 */
export type NotificationHandler = (channel: NotifyChannel, payload: string) => void;

/**
 * Subscribes to announcements on `channels` (default: the engine's); `listen` resolves once
 * subscribed and returns the unsubscribe.
 */
export interface Notifier {
  listen(handler: NotificationHandler, channels?: readonly NotifyChannel[]): Promise<() => Promise<void>>;
}

/** The in-process notifier (SQLite, and tests). */
export class LocalNotifier implements Notifier {
  readonly #handlers = new Map<NotificationHandler, readonly NotifyChannel[]>();

  async listen(
    handler: NotificationHandler,
    channels: readonly NotifyChannel[] = ENGINE_CHANNELS,
  ): Promise<() => Promise<void>> {
    // Wrapped so one handler may listen twice (on different channels).
    const wrapped: NotificationHandler = (channel, payload) => handler(channel, payload);
    this.#handlers.set(wrapped, channels);
    return async () => {
      this.#handlers.delete(wrapped);
    };
  }

  /** Delivers on the next turn of the event loop (the store calls it after commit). */
  emit(channel: NotifyChannel, payload: string): void {
    setImmediate(() => {
      for (const [handler, channels] of this.#handlers) if (channels.includes(channel)) handler(channel, payload);
    });
  }
}
