import pino, { type Logger } from 'pino';

/** Query parameters whose values never reach a log line (a stream's `?token=` is an API key). */
const SECRET_QUERY = /([?&](?:token|api_key|key)=)[^&#]*/gi;

/** A URL with secret query values replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1[redacted]');
}

interface LoggedRequest {
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  socket?: { remoteAddress?: string };
}

/** The process logger: JSON lines on stdout (or `destination`), at the configured level. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'weft' },
    serializers: {
      // Request lines (debug level) show where a request went, never a key it carried.
      req: (request: LoggedRequest) => ({
        method: request.method,
        url: redactUrl(request.url ?? ''),
        host: request.headers?.host,
        remoteAddress: request.socket?.remoteAddress,
      }),
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
