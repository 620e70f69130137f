/**
 * The API key of this browser tab. SPEC §7: kept in sessionStorage (gone when the tab closes,
 * never shared with other tabs); any 401 clears it and sends the user back to sign-in.
 */

const STORAGE_KEY = 'weft.api_key';

/** The key this tab signed in with, if any. */
export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage can be disabled (privacy modes); the tab then has no key and signs in again.
    return null;
  }
}

/** Keeps the key for this tab. */
export function storeKey(key: string): void {
  sessionStorage.setItem(STORAGE_KEY, key);
}

/** Forgets the key (sign out, or the server answered 401). */
export function forgetKey(): void {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing stored, nothing to forget.
  }
}
