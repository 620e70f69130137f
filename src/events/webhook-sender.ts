import { type EgressClient, egressClientFor } from '../egress/egress-client.js';
import { findEgressRefusal } from '../egress/egress-errors.js';
import type { AttemptOutcome, ClaimedDelivery } from '../store/repositories/webhook-delivery-repository.js';
import { signatureHeaders } from './webhook-signing.js';

/**
 * One attempt of a webhook delivery: a signed POST under the egress policy (the destination is
 * checked on the address it resolves to at send time, not when the subscription was made) that
 * never follows redirects (a 3xx is a failure, so a receiver cannot bounce Weft's requests
 * elsewhere) and is bounded by a timeout covering the answer's body too. Only a 2xx counts as
 * delivered.
 */

/** An attempt's outcome, and whether another attempt could end differently. */
export interface WebhookSendOutcome extends AttemptOutcome {
  /**
   * False when the egress policy refused the destination: the policy is the same at the next
   * attempt, so retrying would only fill the log; the delivery fails at once.
   */
  retryable: boolean;
}

/** How much of a failed answer's body is kept in the attempt's error. */
const ERROR_BODY_CHARS = 300;

/**
 * Sends `delivery` once through `client` (the default policy's client when none is given);
 * never throws: every failure is an outcome with its error.
 */
export async function sendWebhookAttempt(
  delivery: ClaimedDelivery,
  timeoutMs: number,
  client: EgressClient = egressClientFor(),
): Promise<WebhookSendOutcome> {
  const startedAt = new Date();
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const { response } = await client.fetch(delivery.url, {
      method: 'POST',
      maxRedirects: 0,
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Weft-Webhooks/1',
        ...signatureHeaders(delivery.secrets, delivery.id, startedAt, delivery.payload),
      },
      body: delivery.payload,
    });
    const ok = response.status >= 200 && response.status < 300;
    // A 2xx is all that counts: its body is dropped unread.
    const snippet = ok ? await response.body?.cancel().then(() => '') : await readSnippet(response);
    const base = {
      statusCode: response.status,
      latencyMs: elapsed(),
      startedAt: startedAt.toISOString(),
      retryable: true,
    };
    if (ok) return { ...base, error: null };
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get('location');
      return { ...base, error: `redirect not followed${location ? ` (to ${location})` : ''}` };
    }
    return { ...base, error: `HTTP ${response.status}${snippet ? `: ${snippet}` : ''}` };
  } catch (error) {
    const refusal = findEgressRefusal(error);
    return {
      statusCode: null,
      latencyMs: elapsed(),
      startedAt: startedAt.toISOString(),
      error: refusal ? `${refusal.message} (EGRESS_REFUSED, not retried)` : describe(error, signal, timeoutMs),
      retryable: refusal === undefined,
    };
  }
}

/** The start of a body, for the attempt's error; the rest is dropped unread. */
async function readSnippet(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < ERROR_BODY_CHARS) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    // Frees the connection without reading a body the receiver may never finish.
    await reader.cancel().catch(() => undefined);
  }
  return text.slice(0, ERROR_BODY_CHARS).trim();
}

function describe(error: unknown, signal: AbortSignal, timeoutMs: number): string {
  if (signal.aborted) return `timed out after ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const message = error instanceof Error ? error.message : String(error);
  return cause?.code ? `${message} (${cause.code})` : cause?.message ? `${message}: ${cause.message}` : message;
}
