import { NonRetryableError } from '../tasks/task-outcomes.js';

/**
 * The two ways the egress layer stops a request. Both are NonRetryableErrors with a stable code,
 * so a task handler can let them through and the attempt fails without retry; the webhook sender
 * tells them apart with `instanceof`.
 */

/** The egress policy refused a destination (code `EGRESS_REFUSED`); the message names rule and target. */
export class EgressRefusedError extends NonRetryableError {
  constructor(message: string) {
    super(message, { code: 'EGRESS_REFUSED' });
    this.name = 'EgressRefusedError';
  }
}

/** A response body was larger than its cap (code `SIZE_LIMIT`); the connection was aborted. */
export class ResponseTooLargeError extends NonRetryableError {
  constructor(message: string) {
    super(message, { code: 'SIZE_LIMIT' });
    this.name = 'ResponseTooLargeError';
  }
}

/** The EgressRefusedError somewhere in an error's cause chain (fetch wraps connect errors), if any. */
export function findEgressRefusal(error: unknown): EgressRefusedError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof EgressRefusedError) return current;
    current = current.cause;
  }
  return undefined;
}
