import pino, { type Logger } from 'pino';

/**
 * Query parameters whose values never reach a log line (a stream's `?token=` is an API key). A
 * value ends where the URL does, so a URL inside an error message keeps the words after it.
 */
const SECRET_QUERY = /([?&](?:token|api_key|key)=)[^&#\s'"]*/gi;

/** A URL (or a text quoting URLs) with secret query values replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1[redacted]');
}

interface LoggedRequest {
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  socket?: { remoteAddress?: string };
}

/** `WEFT_LOG_FORMAT`: one JSON object per line, or a line a person reads (docs/logging.md). */
export type LogFormat = 'json' | 'pretty';

/** WEFT_LOG_FORMAT's default: pretty lines for a person at a terminal, JSON lines for anything else. */
export function defaultLogFormat(stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  return stdout.isTTY ? 'pretty' : 'json';
}

/**
 * The process logger, at the configured level: JSON lines on stdout (or `destination`), or with
 * `format` `pretty` the same lines formatted for a person (`prettyStream`). Without a format, a
 * terminal on stdout gets pretty lines and anything else JSON; a given destination gets JSON.
 */
export function createLogger(level: string, destination?: pino.DestinationStream, format?: LogFormat): Logger {
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
  const chosen = format ?? (destination ? 'json' : defaultLogFormat());
  if (chosen === 'pretty') {
    const colors = destination === undefined && process.stdout.isTTY === true && !process.env.NO_COLOR;
    return pino(options, prettyStream(destination ?? process.stdout, colors));
  }
  return destination ? pino(options, destination) : pino(options);
}

/** Level names and their colours (ANSI SGR codes) by pino's level numbers. */
const LEVELS = new Map([
  [10, ['TRACE', '90']],
  [20, ['DEBUG', '36']],
  [30, ['INFO', '32']],
  [40, ['WARN', '33']],
  [50, ['ERROR', '31']],
  [60, ['FATAL', '41']],
]);

/** Fields every line has, shown in its head or not at all. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname', 'v']);

/**
 * A pino destination that writes each JSON line as one line a person reads:
 * `12:03:04.567 INFO  execution completed execution_id=exe_… status=completed duration_ms=412`,
 * then an error's stack, indented. Written here rather than taken from pino-pretty (a dependency
 * of its own with a worker-thread transport) for the few things a terminal needs: local time,
 * level, message, `key=value` fields (strings with spaces or quotes quoted as JSON, objects as
 * JSON). A line that is not JSON is written as it came.
 */
export function prettyStream(out: { write(text: string): unknown }, colors = false): pino.DestinationStream {
  const paint = (code: string, text: string) => (colors ? `\u001b[${code}m${text}\u001b[0m` : text);
  return {
    write(line: string) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const [name, color] = LEVELS.get(entry.level as number) ?? [String(entry.level).toUpperCase(), '0'];
      const time = typeof entry.time === 'number' ? clock(new Date(entry.time)) : '';
      const level = name ?? '';
      let text = `${paint('90', time)} ${paint(color ?? '0', level)}${' '.repeat(Math.max(1, 6 - level.length))}${String(entry.msg ?? '')}`;
      let stack = '';
      for (const [key, value] of Object.entries(entry)) {
        if (HEAD_FIELDS.has(key) || value === undefined) continue;
        if (key === 'err' && typeof value === 'object' && value !== null) {
          const error = value as { message?: unknown; stack?: unknown };
          text += ` ${paint('2', 'err=')}${pretty(error.message ?? '')}`;
          if (typeof error.stack === 'string') stack = error.stack.split('\n').slice(1).join('\n');
          continue;
        }
        text += ` ${paint('2', `${key}=`)}${pretty(value)}`;
      }
      out.write(`${text}\n${stack === '' ? '' : `${stack}\n`}`);
    },
  };
}

/** A field's value: a plain word as it is, anything else as JSON. */
function pretty(value: unknown): string {
  if (typeof value === 'string' && /^[^\s"=]+$/.test(value)) return value;
  return JSON.stringify(value) ?? String(value);
}

/** `HH:MM:SS.mmm` in local time. */
function clock(date: Date): string {
  const two = (value: number) => String(value).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}
