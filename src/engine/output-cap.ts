import { NonRetryableError, type StepError, toStepError } from '../tasks/task-outcomes.js';
import { jsonText } from './json-text.js';
import type { StepOutcome } from './settle.js';

/**
 * The output cap (SPEC §3, `WEFT_MAX_OUTPUT_BYTES`): outputs live in JSON columns that every read
 * of an execution's context loads, so one that is too large fails its attempt without retry
 * (retrying would produce the same output) and points at artifacts instead. The size is the
 * byte length of the JSON text the store writes, measured once: the text is handed on to the
 * store, so the hot path serialises an output once, as it did before the cap.
 */

/** `WEFT_MAX_OUTPUT_BYTES` when unset: 1 MiB of JSON. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/** A byte count as people read it: `1,048,576`. */
export const byteCount = (value: number): string => value.toLocaleString('en-US');

/**
 * The message of an output over the cap: `sized` says what and how large (`step output is 12,345
 * bytes`); the cap and artifacts as the way out follow.
 */
export function outputTooLargeMessage(sized: string, cap: number, executionId: string): string {
  return (
    `${sized}, over WEFT_MAX_OUTPUT_BYTES (${byteCount(cap)}): store large results as artifacts ` +
    `(PUT /executions/${executionId}/artifacts/{name}) and output a reference`
  );
}

/**
 * The non-retryable step error (code `OUTPUT_TOO_LARGE`) of an output over the cap. `what` names
 * it: `step output`, `item 3 output`, `execution output`.
 */
export function outputTooLarge(what: string, bytes: number, cap: number, executionId: string): StepError {
  const message = outputTooLargeMessage(`${what} is ${byteCount(bytes)} bytes`, cap, executionId);
  return toStepError(new NonRetryableError(message, { code: 'OUTPUT_TOO_LARGE' }));
}

/**
 * The byte length of JSON `text` when it is over `cap`, else undefined. UTF-8 takes at most 3
 * bytes per UTF-16 unit, so most texts are under the cap by their length alone and skip the count.
 */
export function bytesOverCap(text: string | null, cap: number): number | undefined {
  if (text === null || text.length * 3 <= cap) return undefined;
  const bytes = Buffer.byteLength(text);
  return bytes > cap ? bytes : undefined;
}

/** Whether an error is the cap's (a worker's `complete` answers 413 for it). */
export function isOutputTooLarge(error: StepError): boolean {
  return error.code === 'OUTPUT_TOO_LARGE';
}

/**
 * Measures the output of a completed or waiting outcome against `cap`: under it, the outcome with
 * its `outputText` (what the store writes); over it, or not JSON at all (a BigInt, a cycle), a
 * failed outcome that is not retried. Other outcomes, and outcomes already measured, pass as they are.
 */
export function capOutput(outcome: StepOutcome, cap: number, what: string, executionId: string): StepOutcome {
  if ((outcome.kind !== 'completed' && outcome.kind !== 'waiting') || outcome.outputText !== undefined) return outcome;
  let text: string | null;
  try {
    text = jsonText(outcome.output);
  } catch {
    const error = { message: 'the output is not JSON (e.g. a BigInt or a cycle)', retryable: false };
    return { kind: 'failed', input: outcome.input, error };
  }
  const bytes = bytesOverCap(text, cap);
  if (bytes !== undefined)
    return { kind: 'failed', input: outcome.input, error: outputTooLarge(what, bytes, cap, executionId) };
  return { ...outcome, outputText: text };
}
