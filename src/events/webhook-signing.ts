import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): an HMAC-SHA256 over
 * `<webhook-id>.<webhook-timestamp>.<body>` with a `whsec_<base64>` secret, sent as
 * `webhook-signature: v1,<base64>` — several space-separated while an old secret is still valid.
 * Receivers verify with any Standard Webhooks library (the `standardwebhooks` package here).
 */

/** A new secret: `whsec_` and 32 random bytes in base64 (the format the libraries read). */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The three Standard Webhooks headers of one attempt, signed with every secret given. */
export function signatureHeaders(
  secrets: readonly string[],
  messageId: string,
  timestamp: Date,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  if (secrets.length === 0) throw new Error(`no secret to sign webhook ${messageId} with`);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(messageId, timestamp, body)).join(' '),
  };
}
