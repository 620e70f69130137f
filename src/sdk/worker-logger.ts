/** How the worker logs: the interface it needs, and its default. */

/** Where the worker logs; a pino logger fits. */
export interface WorkerLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * Log fields of an error: name and message, plus the cause's message, because fetch's network
 * errors say only "fetch failed" and keep the reason (ECONNREFUSED, …) in `cause`.
 */
export function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { err: String(error) };
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return { err: { name: error.name, message: error.message, ...(cause ? { cause } : {}) } };
}

/** The default logger: warnings and errors on stderr, one line each. */
export function stderrLogger(): WorkerLogger {
  const write = (level: string) => (fields: Record<string, unknown>, message: string) => {
    process.stderr.write(`weft worker ${level}: ${message} ${JSON.stringify(fields)}\n`);
  };
  const quiet = () => undefined;
  return { debug: quiet, info: quiet, warn: write('warn'), error: write('error') };
}
