/**
 * Wake-ups between processes: a store change that gives work to others (steps queued, an
 * execution cancelled) is announced on a channel. PostgreSQL carries them with LISTEN/NOTIFY
 * (delivered at commit); SQLite has one process, so they stay in it.
 */

/** Channels Weft announces on. */
export type NotifyChannel = 'weft_work' | 'weft_cancel';

/** Receives announcements. */
export type NotificationHandler = (channel: NotifyChannel, payload: string) => void;

/** Subscribes to announcements; `listen` resolves once subscribed and returns the unsubscribe. */
export interface Notifier {
  listen(handler: NotificationHandler): Promise<() => Promise<void>>;
}

/** The in-process notifier (SQLite, and tests). */
export class LocalNotifier implements Notifier {
  readonly #handlers = new Set<NotificationHandler>();

  async listen(handler: NotificationHandler): Promise<() => Promise<void>> {
    this.#handlers.add(handler);
    return async () => {
      this.#handlers.delete(handler);
    };
  }

  /** Delivers on the next turn of the event loop, after the caller's transaction has committed. */
  emit(channel: NotifyChannel, payload: string): void {
    setImmediate(() => {
      for (const handler of this.#handlers) handler(channel, payload);
    });
  }
}
