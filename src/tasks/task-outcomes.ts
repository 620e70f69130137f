/**
 * Small outcome classes a task handler uses to steer the engine (like BullMQ's
 * `UnrecoverableError`): a plain thrown Error is a retryable failure.
 */

/** A failure that retrying cannot fix: the remaining attempts are skipped (the fallback still runs). */
export class NonRetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
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

/** A step error as stored and shown: a message, whether a retry could help, optional details. */
export interface StepError {
  message: string;
  retryable: boolean;
  details?: unknown;
}

/** Turns anything a handler threw into a StepError. */
export function toStepError(error: unknown): StepError {
  if (error instanceof NonRetryableError) return { message: error.message, retryable: false };
  if (error instanceof Error) return { message: error.message || error.name, retryable: true };
  return { message: String(error), retryable: true };
}
