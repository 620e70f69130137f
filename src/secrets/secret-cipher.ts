import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Encryption of secret values at rest: AES-256-GCM under `WEFT_SECRETS_KEY`, a fresh 96-bit nonce
 * per write, and the workspace and name as additional authenticated data, so a ciphertext copied
 * to another row (another workspace, another name) does not decrypt.
 */

/** Bytes of an AES-256 key. */
export const SECRETS_KEY_BYTES = 32;

/** An encrypted value as stored: base64 ciphertext, nonce and tag. */
export interface SealedValue {
  value: string;
  iv: string;
  tag: string;
}

/**
 * Reads `WEFT_SECRETS_KEY`: 32 bytes written as 64 hexadecimal digits or as base64 (44 characters
 * with padding; base64url accepted). Throws an Error saying what is expected otherwise.
 */
export function parseSecretsKey(raw: string): Buffer {
  const text = raw.trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{42,43}={0,2}$/.test(text)) {
    const key = Buffer.from(text.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
    if (key.length === SECRETS_KEY_BYTES) return key;
  }
  throw new Error(
    `must be ${SECRETS_KEY_BYTES} bytes as 64 hex digits or base64 (e.g. the output of \`openssl rand -base64 32\`)`,
  );
}

function associatedData(workspaceId: string, name: string): Buffer {
  return Buffer.from(`weft-secret:v1:${workspaceId}:${name}`, 'utf8');
}

/** Encrypts the value of secret `name` of a workspace. */
export function sealSecret(key: Buffer, workspaceId: string, name: string, value: string): SealedValue {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(associatedData(workspaceId, name));
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return {
    value: ciphertext.toString('base64'),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
}

/** Decrypts a sealed value; throws when the key, the row or the ciphertext does not match. */
export function openSecret(key: Buffer, workspaceId: string, name: string, sealed: SealedValue): string {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
  decipher.setAAD(associatedData(workspaceId, name));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(sealed.value, 'base64')), decipher.final()]).toString('utf8');
}
