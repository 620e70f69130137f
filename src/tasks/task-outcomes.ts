/**
 * Small outcome classes a task handler uses to steer the engine (like BullMQ's
 * `UnrecoverableError`): a plain thrown Error is a retryable failure.
 */

/**
 * Codes a step error may carry, so users and tests can tell why an attempt failed without parsing
 * its message. docs/engine.md lists them.
 */
export const STEP_ERROR_CODES = Object.freeze([
  /** An expression ran past `WEFT_EXPRESSION_TIMEOUT_MS` or its depth limit. */
  'EXPRESSION_LIMIT',
  /** The egress policy refused an outbound request. */
  'EGRESS_REFUSED',
  /** A response or output was larger than its cap. */
  'SIZE_LIMIT',
  /** A step, item or execution output was larger than `WEFT_MAX_OUTPUT_BYTES`: use artifacts. */
  'OUTPUT_TOO_LARGE',
  /** The step input names a secret (`{{ secrets.NAME }}`) the workspace does not have. */
  'SECRET_MISSING',
  /** A secret is stored encrypted and this process has no (or another) WEFT_SECRETS_KEY. */
  'SECRET_UNREADABLE',
  /** A `wait_for_signal` step's `timeout_seconds` passed before its signal arrived (retryable). */
  'SIGNAL_TIMEOUT',
] as const);

/** A code of STEP_ERROR_CODES. */
export type StepErrorCode = (typeof STEP_ERROR_CODES)[number];

/** A failure that retrying cannot fix: the remaining attempts are skipped (the fallback still runs). */
export class NonRetryableError extends Error {
  /** Why, as a stable code (optional). */
  readonly code: StepErrorCode | undefined;
  /** What the step error's `details` show (optional): what the user needs to act on it. */
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, options?: { cause?: unknown; code?: StepErrorCode; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NonRetryableError';
    this.code = options?.code;
    this.details = options?.details;
  }
}

/** A retryable failure whose step error carries `details` (any other thrown Error is retryable too). */
export class RetryableError extends Error {
  /** What the step error's `details` show. */
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RetryableError';
    this.details = options?.details;
  }
}

/** Returned by a handler to park the step until `until` without holding a worker (durable timer). */
export class WaitUntil {
  constructor(
    readonly until: Date,
    /** The step's output once the timer fires. */
    readonly output: unknown,
  ) {}
}

/**
 * Makes `instanceof` of these classes hold across copies of this module. A plugin imports them
 * from the package (`dist/index.js`) while the server may run from its bundle (`npm start`) or
 * from `src/` (tsx): each is its own copy of the class, and a plain `instanceof` would take a
 * plugin's `NonRetryableError` for an ordinary, retryable Error. Instances carry a registry
 * symbol, the same in every copy; a subclass's own `instanceof` keeps the usual meaning.
 */
function recogniseAcrossCopies(type: abstract new (...args: never[]) => object, name: string): void {
  const mark = Symbol.for(`weft.${name}`);
  Object.defineProperty(type.prototype, mark, { value: true });
  Object.defineProperty(type, Symbol.hasInstance, {
    value(this: unknown, value: unknown): boolean {
      if (this !== type) return Function.prototype[Symbol.hasInstance].call(this, value);
      return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[mark] === true;
    },
  });
}
recogniseAcrossCopies(NonRetryableError, 'NonRetryableError');
recogniseAcrossCopies(RetryableError, 'RetryableError');
recogniseAcrossCopies(WaitUntil, 'WaitUntil');

/** A step error as stored and shown: a message, whether a retry could help, optional code and details. */
export interface StepError {
  message: string;
  retryable: boolean;
  code?: StepErrorCode;
  details?: unknown;
}

/** Turns anything a handler threw into a StepError. */
export function toStepError(error: unknown): StepError {
  if (error instanceof NonRetryableError) {
    const failure: StepError = { message: error.message, retryable: false };
    if (error.code !== undefined) failure.code = error.code;
    if (error.details !== undefined) failure.details = error.details;
    return failure;
  }
  if (error instanceof RetryableError && error.details !== undefined) {
    return { message: error.message || error.name, retryable: true, details: error.details };
  }
  if (error instanceof Error) return { message: error.message || error.name, retryable: true };
  return { message: String(error), retryable: true };
}
