import type { Response } from 'undici';
import { NonRetryableError, RetryableError } from '../tasks/task-outcomes.js';

/**
 * The start of a response body kept in a step error, so a failed request says what the server
 * answered (`details.body`) without storing an error page of any size.
 */

/** Bytes of a failed response's body that a step error keeps. */
export const ERROR_BODY_BYTES = 2048;

/** The start of a body: at most ERROR_BODY_BYTES of it as text, and whether more was cut off. */
export interface BodyExcerpt {
  body: string;
  body_truncated: boolean;
}

/**
 * The first `limit` bytes of `bytes` as UTF-8 text, cut before a character that would straddle
 * the limit (never half a character); `truncated` when bytes were left out.
 */
export function excerptOf(bytes: Uint8Array, limit: number = ERROR_BODY_BYTES): BodyExcerpt {
  if (bytes.byteLength <= limit) return { body: Buffer.from(bytes).toString('utf8'), body_truncated: false };
  let end = limit;
  // A continuation byte (10xxxxxx) at the cut belongs to a character that started before it.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return { body: Buffer.from(bytes.subarray(0, end)).toString('utf8'), body_truncated: true };
}

/**
 * Reads no more of a response body than its excerpt needs, then drops the connection's rest. A
 * body that breaks off while read is kept as far as it came, marked truncated: the status is
 * what failed the request, and the error reports it whatever became of the body.
 */
export async function readBodyExcerpt(response: Response, limit: number = ERROR_BODY_BYTES): Promise<BodyExcerpt> {
  if (!response.body) return { body: '', body_truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let broken = false;
  try {
    while (total <= limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
    }
  } catch {
    broken = true;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const excerpt = excerptOf(Buffer.concat(chunks, total), limit);
  return broken ? { ...excerpt, body_truncated: true } : excerpt;
}

/**
 * The error of a request answered with a failing `status` (an `http` step outside its expected
 * statuses, an `llm.chat` endpoint outside 2xx): `message` as given, and what the server said in
 * `details` as `{status, body, body_truncated}` (secrets in it are redacted with the rest of the
 * error, src/secrets/secret-redaction.ts). 5xx and 429 may pass on a later attempt and are
 * retried; other statuses will not.
 */
export async function answeredError(response: Response, message: string): Promise<Error> {
  const status = response.status;
  const details = { status, ...(await readBodyExcerpt(response)) };
  return status >= 500 || status === 429
    ? new RetryableError(message, { details })
    : new NonRetryableError(message, { details });
}
