import type { StepError } from '../tasks/task-outcomes.js';
import { redactedMarker } from './secret-references.js';

/**
 * Replaces secret values by `[redacted:NAME]` in what an attempt leaves behind: its output and
 * its error (a response echoing a token, an error quoting a header). The recorded input needs no
 * search: it is rendered with the markers in place of the values (step-secrets.ts).
 *
 * Values shorter than MIN_REDACTED_LENGTH are not searched for: replacing every `1` or `ab` of an
 * output would destroy it and hide nothing worth hiding. Both the value and its JSON-escaped form
 * (a value with quotes or newlines inside a JSON text) are replaced.
 */

/** Shortest value searched for in outputs and errors. */
export const MIN_REDACTED_LENGTH = 4;

/** Replaces the values it was given wherever they occur in text, JSON values and step errors. */
export class SecretRedactor {
  readonly #replacements: Array<[string, string]> = [];

  constructor(values: ReadonlyMap<string, string>) {
    for (const [name, value] of values) {
      if (value.length < MIN_REDACTED_LENGTH) continue;
      const marker = redactedMarker(name);
      this.#replacements.push([value, marker]);
      const escaped = JSON.stringify(value).slice(1, -1);
      if (escaped !== value) this.#replacements.push([escaped, marker]);
    }
    // Longest first: a secret that contains another is replaced whole.
    this.#replacements.sort((a, b) => b[0].length - a[0].length);
  }

  /** True when there is nothing to replace. */
  get empty(): boolean {
    return this.#replacements.length === 0;
  }

  /** `text` with every value replaced by its marker. */
  text(text: string): string {
    let result = text;
    for (const [value, marker] of this.#replacements) {
      if (result.includes(value)) result = result.split(value).join(marker);
    }
    return result;
  }

  /** A JSON value with the values replaced in every string and key (a new value; the input is kept). */
  value(value: unknown): unknown {
    if (this.empty) return value;
    if (typeof value === 'string') return this.text(value);
    if (Array.isArray(value)) return value.map((item) => this.value(item));
    if (value !== null && typeof value === 'object') {
      const result: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(value)) result[this.text(key)] = this.value(child);
      return result;
    }
    return value;
  }

  /** A step error with the values replaced in its message and details. */
  error(error: StepError): StepError {
    if (this.empty) return error;
    const redacted: StepError = { ...error, message: this.text(error.message) };
    if (error.details !== undefined) redacted.details = this.#cutBody(this.value(error.details));
    return redacted;
  }

  /**
   * A truncated response body (`{body, body_truncated: true}`, src/egress/response-excerpt.ts) may
   * end inside a secret: the start of a value left at its end is replaced too, however short.
   */
  #cutBody(details: unknown): unknown {
    if (details === null || typeof details !== 'object' || Array.isArray(details)) return details;
    const { body, body_truncated: truncated } = details as { body?: unknown; body_truncated?: unknown };
    if (truncated !== true || typeof body !== 'string') return details;
    let cut: { length: number; marker: string } | undefined;
    for (const [value, marker] of this.#replacements) {
      for (let length = Math.min(value.length - 1, body.length); length > (cut?.length ?? 0); length -= 1) {
        if (body.endsWith(value.slice(0, length))) cut = { length, marker };
      }
    }
    return cut ? { ...details, body: `${body.slice(0, body.length - cut.length)}${cut.marker}` } : details;
  }
}
