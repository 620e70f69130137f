import { createHash, randomBytes } from 'node:crypto';

/**
 * API key secrets. A raw key is `weft_` followed by 32 random bytes (base64url); it is shown once
 * and stored as its SHA-256 hash. Keys carry 256 bits of entropy, so a fast hash is enough: there
 * is nothing to brute-force as there would be with a password.
 */

/**
 * Characters of the raw key kept as its visible prefix: enough to tell keys apart in a list, few
 * enough that a short operator-chosen key (at least `MIN_CHOSEN_KEY_LENGTH`) keeps 24 secret.
 */
const PREFIX_LENGTH = 8;

/** Shortest `WEFT_ADMIN_KEY` accepted: a chosen key must be hard to guess, as generated ones are. */
export const MIN_CHOSEN_KEY_LENGTH = 32;

/** A new raw API key. */
export function generateApiKey(): string {
  return `weft_${randomBytes(32).toString('base64url')}`;
}

/** The stored form of a raw key. */
export function hashApiKey(raw: string): string {
  return createHash('sha256').update(raw, 'utf8').digest('hex');
}

/** The part of a key that lists show so people can tell keys apart. */
export function apiKeyPrefix(raw: string): string {
  return raw.slice(0, PREFIX_LENGTH);
}
