import pg from 'pg';
import type { NotificationHandler, Notifier, NotifyChannel } from '../notifier.js';

const CHANNELS: NotifyChannel[] = ['weft_work', 'weft_cancel'];

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other queries). When the
 * connection drops it reconnects with a growing delay; the engine's slow poll covers the gap.
 */
export class PostgresNotifier implements Notifier {
  constructor(
    private readonly connectionString: string,
    private readonly onError: (error: Error) => void,
  ) {}

  async listen(handler: NotificationHandler): Promise<() => Promise<void>> {
    let client: pg.Client | undefined;
    let stopped = false;
    let retryMs = 500;
    let retryTimer: NodeJS.Timeout | undefined;

    const connect = async (): Promise<void> => {
      const next = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: 5000 });
      next.on('notification', (message) => {
        if (CHANNELS.includes(message.channel as NotifyChannel))
          handler(message.channel as NotifyChannel, message.payload ?? '');
      });
      next.on('error', (error) => {
        this.onError(error);
        reconnectLater();
      });
      next.on('end', () => reconnectLater());
      await next.connect();
      for (const channel of CHANNELS) await next.query(`listen ${channel}`);
      client = next;
      retryMs = 500;
      // Work may have been announced while no one listened.
      handler('weft_work', '');
    };

    const reconnectLater = () => {
      if (stopped || retryTimer) return;
      client = undefined;
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        connect().catch((error: Error) => {
          this.onError(error);
          retryMs = Math.min(retryMs * 2, 10_000);
          reconnectLater();
        });
      }, retryMs);
      retryTimer.unref();
    };

    await connect();
    return async () => {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      const current = client;
      client = undefined;
      await current?.end().catch((error: Error) => this.onError(error));
    };
  }
}
