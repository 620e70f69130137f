import { NonRetryableError } from '../tasks/task-outcomes.js';
import { LinearRegExp } from './linear-regexp.js';

/**
 * The limits every JSONata evaluation runs under (templates, `when`, `output`, `transform`,
 * input-mapping transforms, trigger conditions). Users write these expressions, so none may hold
 * the event loop: evaluation yields to it every few milliseconds, stops past a time budget and a
 * depth limit, and regular expressions match in linear time.
 *
 * JSONata 2 evaluates asynchronously and offers the hooks this needs: `timeout` and `stack`
 * options (checked on entry to every sub-expression; the depth is its own count of nested
 * evaluations) and an `__evaluate_entry` callback, which may return a promise. The callback is
 * where the loop gets its turns; a promise that resolves in `setImmediate` lets timers, I/O and
 * other requests run before the expression goes on.
 */

/** Settings of the expression limits (WEFT_EXPRESSION_TIMEOUT_MS, WEFT_EXPRESSION_MAX_DEPTH). */
export interface ExpressionLimitSettings {
  timeoutMs: number;
  maxDepth: number;
}

/** Defaults, also used by code that runs without a configuration (validation, tests). */
export const DEFAULT_EXPRESSION_LIMITS: Readonly<ExpressionLimitSettings> = Object.freeze({
  timeoutMs: 1000,
  maxDepth: 500,
});

/** Longest string `$pad` may build: its width is user data, and padding is built in one go. */
export const MAX_PAD_LENGTH = 1_048_576;

/**
 * The options object every compiled expression shares. JSONata reads `timeout` and `stack` from it
 * at each evaluation, so `configureExpressionLimits` takes effect for expressions compiled before.
 */
export const JSONATA_OPTIONS = {
  timeout: DEFAULT_EXPRESSION_LIMITS.timeoutMs,
  stack: DEFAULT_EXPRESSION_LIMITS.maxDepth,
  RegexEngine: LinearRegExp as unknown as RegExpConstructor,
};

/** Sets the limits for this process (at start, from the configuration). */
export function configureExpressionLimits(settings: ExpressionLimitSettings): void {
  JSONATA_OPTIONS.timeout = settings.timeoutMs;
  JSONATA_OPTIONS.stack = settings.maxDepth;
}

/** The limits in force. */
export function expressionLimits(): ExpressionLimitSettings {
  return { timeoutMs: JSONATA_OPTIONS.timeout, maxDepth: JSONATA_OPTIONS.stack };
}

/** How long an evaluation may keep the loop before it yields. */
const SLICE_MS = 4;
/** The clock is read on every 32nd sub-expression: reading it costs more than most of them. */
const CHECK_EVERY = 32;
let entries = 0;
let sliceStartedAt = performance.now();

function resumeLater(resolve: () => void): void {
  setImmediate(() => {
    sliceStartedAt = performance.now();
    resolve();
  });
}

/**
 * JSONata's `__evaluate_entry` hook: nothing most of the time; after SLICE_MS of evaluation since
 * the loop last had a turn, a promise that resolves on the loop's next check phase. The slice is
 * shared by all evaluations, which are all on this one loop.
 */
export function yieldToEventLoop(): Promise<void> | undefined {
  entries += 1;
  if (entries % CHECK_EVERY !== 0) return undefined;
  if (performance.now() - sliceStartedAt < SLICE_MS) return undefined;
  return new Promise(resumeLater);
}

let active = 0;

/**
 * Marks an evaluation running until the returned function is called. When none was running, the
 * loop has been free since the last one, so a new slice begins.
 */
export function beginEvaluation(): () => void {
  if (active === 0) sliceStartedAt = performance.now();
  active += 1;
  return () => {
    active -= 1;
  };
}

/** An expression ran past a limit. It fails the attempt without retry: the next run would too. */
export class ExpressionLimitError extends NonRetryableError {
  constructor(message: string) {
    super(message, { code: 'EXPRESSION_LIMIT' });
    this.name = 'ExpressionLimitError';
  }
}

interface JsonataFailure {
  code?: unknown;
  error?: unknown;
  value?: unknown;
}

/**
 * The ExpressionLimitError for a JSONata failure that was a limit (also when `$eval` wrapped it),
 * or undefined for any other failure.
 */
export function limitErrorOf(error: unknown): ExpressionLimitError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 10 && current !== null && typeof current === 'object'; depth += 1) {
    if (current instanceof ExpressionLimitError) return current;
    const failure = current as JsonataFailure;
    if (failure.code === 'D1012') {
      return new ExpressionLimitError(
        `the expression ran longer than WEFT_EXPRESSION_TIMEOUT_MS (${JSONATA_OPTIONS.timeout} ms)`,
      );
    }
    if (failure.code === 'D1011') {
      return new ExpressionLimitError(
        `the expression nested deeper than WEFT_EXPRESSION_MAX_DEPTH (${JSONATA_OPTIONS.stack}); a recursive function that does not end?`,
      );
    }
    current = failure.error;
  }
  return undefined;
}

/** `$pad` with its width bounded by MAX_PAD_LENGTH; otherwise as JSONata's own. */
export function boundedPad(text: string | undefined, width: number, char?: string): string | undefined {
  if (text === undefined) return undefined;
  const target = Math.trunc(width);
  if (Math.abs(target) > MAX_PAD_LENGTH) {
    throw new ExpressionLimitError(`$pad: a width of ${Math.abs(target)} is over the limit of ${MAX_PAD_LENGTH}`);
  }
  const fill = char === undefined || char.length === 0 ? ' ' : char;
  const missing = Math.abs(target) - Array.from(text).length;
  if (missing <= 0) return text;
  const padding = Array.from(fill.repeat(Math.ceil(missing / Array.from(fill).length)))
    .slice(0, missing)
    .join('');
  return target > 0 ? text + padding : padding + text;
}
