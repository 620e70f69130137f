import { type Static, Type } from 'typebox';
import { STEP_ERROR_CODES, type StepError } from '../tasks/task-outcomes.js';

/**
 * The one shape of `execution.error`, whatever ended the execution: a failed step, the workflow
 * timeout, an output that cannot be rendered or is too large, a concurrency strategy that cancelled
 * it. Every writer builds it here; docs/errors.md (Execution errors) shows one per failure mode.
 */

/** Why an execution ended with an error (beside the step error codes an output may fail with). */
export const EXECUTION_FAILURE_CODES = Object.freeze([
  /** A step failed for good (retries and fallback spent); `step_id` names it, `cause` is its error. */
  'STEP_FAILED',
  /** The workflow's `timeout_seconds` passed; `details.timeout_seconds` says after how long. */
  'EXECUTION_TIMEOUT',
  /** The workflow `output` template could not be rendered. */
  'OUTPUT_INVALID',
  /** `concurrency` with `cancel_newest` or `cancel_in_progress` cancelled the execution. */
  'CONCURRENCY_LIMIT',
  /** Recorded by an older version in a shape that does not say why (read back as this code). */
  'EXECUTION_FAILED',
] as const);

/** Every code `execution.error.code` may hold: the failure codes, and step error codes (an output over the cap is `OUTPUT_TOO_LARGE`, one that ran out of time `EXPRESSION_LIMIT`). */
export const EXECUTION_ERROR_CODES: readonly string[] = Object.freeze([
  ...new Set<string>([...EXECUTION_FAILURE_CODES, ...STEP_ERROR_CODES]),
]);

/** A code of EXECUTION_ERROR_CODES. */
export type ExecutionErrorCode = (typeof EXECUTION_FAILURE_CODES)[number] | (typeof STEP_ERROR_CODES)[number];

/** A step's error as stored (`{message, retryable, code?, details?}`); a `for_each` step's adds `index` and `cause`. */
export const StepErrorSchema = Type.Object(
  {
    message: Type.String(),
    retryable: Type.Boolean(),
    code: Type.Optional(Type.String()),
    details: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: true, title: 'Step error' },
);

/** `execution.error`: null unless the execution failed, or was cancelled by its concurrency strategy. */
export const ExecutionErrorSchema = Type.Object(
  {
    code: Type.String({ enum: [...EXECUTION_ERROR_CODES], description: 'Why the execution ended (docs/errors.md).' }),
    message: Type.String(),
    step_id: Type.Optional(Type.String({ description: 'The step that failed the execution (`STEP_FAILED`).' })),
    attempt: Type.Optional(Type.Integer({ minimum: 1, description: "That step's last attempt." })),
    cause: Type.Optional(StepErrorSchema),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false, title: 'Execution error' },
);

/** The value of `execution.error`. */
export type ExecutionError = Static<typeof ExecutionErrorSchema>;

/** What an execution error may say beside its code and message. */
export interface ExecutionErrorParts {
  step_id?: string;
  attempt?: number;
  cause?: StepError | null;
  details?: Record<string, unknown>;
}

/** Builds an execution error: the only constructor, so every writer gives the same shape. */
export function executionError(
  code: ExecutionErrorCode,
  message: string,
  parts: ExecutionErrorParts = {},
): ExecutionError {
  const error: ExecutionError = { code, message };
  if (parts.step_id !== undefined) error.step_id = parts.step_id;
  if (parts.attempt !== undefined && parts.attempt > 0) error.attempt = parts.attempt;
  if (parts.cause !== undefined && parts.cause !== null) error.cause = parts.cause;
  if (parts.details !== undefined) error.details = parts.details;
  return error;
}

/** The error of an execution that a failed step ended: `step 'x' failed: <the step's message>`. */
export function stepFailed(stepId: string, attempt: number | undefined, cause: StepError | null): ExecutionError {
  const why = cause?.message ? `: ${cause.message}` : '';
  return executionError('STEP_FAILED', `step '${stepId}' failed${why}`, { step_id: stepId, attempt, cause });
}

/** The error of an execution past its workflow `timeout_seconds` (undefined when it cannot be read). */
export function executionTimedOut(timeoutSeconds: number | undefined): ExecutionError {
  if (timeoutSeconds === undefined) return executionError('EXECUTION_TIMEOUT', 'the execution timed out');
  return executionError(
    'EXECUTION_TIMEOUT',
    `the execution timed out after ${timeoutSeconds} s (timeout_seconds: ${timeoutSeconds})`,
    { details: { timeout_seconds: timeoutSeconds } },
  );
}

type Loose = Record<string, unknown>;

const isRecord = (value: unknown): value is Loose =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Reads a stored `executions.error` text into the shape. Errors written before the shape existed
 * (`{message}`, `{message, step_id, cause}`) are read into it: a step named by `step_id` or by the
 * message is `STEP_FAILED`, the old timeout message `EXECUTION_TIMEOUT`, the old output message
 * `OUTPUT_INVALID`, anything else `EXECUTION_FAILED`.
 */
export function readExecutionError(text: string | null): ExecutionError | null {
  if (text === null) return null;
  const value: unknown = JSON.parse(text);
  if (!isRecord(value)) return executionError('EXECUTION_FAILED', String(value));
  const message = typeof value.message === 'string' ? value.message : 'the execution failed';
  if (typeof value.code === 'string' && EXECUTION_ERROR_CODES.includes(value.code)) {
    // Written by executionError (or, before it, `{message, code}`): already the shape.
    return typeof value.message === 'string'
      ? (value as ExecutionError)
      : executionError(value.code as ExecutionErrorCode, message);
  }
  const cause =
    isRecord(value.cause) && typeof value.cause.message === 'string' ? (value.cause as unknown as StepError) : null;
  const named = message.match(/^step '([^']+)'/)?.[1];
  const stepId = typeof value.step_id === 'string' ? value.step_id : named;
  if (stepId !== undefined) return executionError('STEP_FAILED', message, { step_id: stepId, cause });
  if (message === 'the workflow timed out') return executionError('EXECUTION_TIMEOUT', message);
  if (message.startsWith('the workflow output could not be rendered')) return executionError('OUTPUT_INVALID', message);
  return executionError('EXECUTION_FAILED', message);
}
