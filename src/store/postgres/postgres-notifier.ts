import type pg from 'pg';
import { ENGINE_CHANNELS, type NotificationHandler, type Notifier, type NotifyChannel } from '../notifier.js';
import { loadPg } from './pg-module.js';

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other queries). When the
 * connection drops it reconnects with a growing delay; the engine's slow poll covers the gap.
 */
export class PostgresNotifier implements Notifier {
  constructor(
    private readonly connectionString: string,
    private readonly onError: (error: Error) => void,
  ) {}

  async listen(
    handler: NotificationHandler,
    channels: readonly NotifyChannel[] = ENGINE_CHANNELS,
  ): Promise<() => Promise<void>> {
    let client: pg.Client | undefined;
    let stopped = false;
    let retryMs = 500;
    let retryTimer: NodeJS.Timeout | undefined;
    let connected = false;

    const connect = async (): Promise<void> => {
      const next = new (loadPg().Client)({ connectionString: this.connectionString, connectionTimeoutMillis: 5000 });
      next.on('notification', (message) => {
        if (channels.includes(message.channel as NotifyChannel))
          handler(message.channel as NotifyChannel, message.payload ?? '');
      });
      next.on('error', (error) => {
        this.onError(error);
        reconnectLater();
      });
      next.on('end', () => reconnectLater());
      /** Ends a client that will not be used, without it scheduling a reconnect. */
      const discard = async () => {
        next.removeAllListeners('end');
        next.removeAllListeners('error');
        next.on('error', (error) => this.onError(error));
        await next.end().catch((error: Error) => this.onError(error));
      };
      try {
        await next.connect();
        for (const channel of channels) await next.query(`listen ${channel}`);
      } catch (error) {
        await discard();
        throw error;
      }
      if (stopped) {
        // Unsubscribed while this reconnect was under way.
        await discard();
        return;
      }
      client = next;
      retryMs = 500;
      // Work may have been announced while no one listened: an empty payload says so (the engine
      // looks for work; event streams learn that they may have missed events).
      if (connected) for (const channel of channels) handler(channel, '');
      else if (channels.includes('weft_work')) handler('weft_work', '');
      connected = true;
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
