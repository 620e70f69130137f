import type { Store } from '../store/store.js';
import type { ApiKey, Workspace } from '../types.js';

/**
 * A short-lived cache of API key lookups: every request authenticates, and reading the key from
 * the database was one of the few round trips of a start (issue 13). An entry lives
 * `API_KEY_CACHE_MS` (1 s), so a key deleted by another process stops working within a second;
 * a key deleted through this process stops at once (`forgetApiKeys`). Unknown keys are not
 * cached: a key created elsewhere works on its first request.
 */

/** How long a looked-up key is trusted without reading it again. */
export const API_KEY_CACHE_MS = 1000;
/** Entries kept at most; past it the cache starts over (a burst of distinct keys). */
const MAX_ENTRIES = 10_000;

type Found = { key: ApiKey; workspace: Workspace };

interface Entry {
  found: Found;
  until: number;
}

const caches = new WeakMap<Store, Map<string, Entry>>();

function cacheOf(store: Store): Map<string, Entry> {
  let cache = caches.get(store);
  if (!cache) {
    cache = new Map();
    caches.set(store, cache);
  }
  return cache;
}

/** The key with this hash and its workspace, from the cache when looked up less than a second ago. */
export async function findApiKey(store: Store, keyHash: string): Promise<Found | undefined> {
  const cache = cacheOf(store);
  const now = Date.now();
  const cached = cache.get(keyHash);
  if (cached && cached.until > now) return cached.found;
  const found = await store.apiKeys.findByHash(keyHash);
  if (!found) {
    cache.delete(keyHash);
    return undefined;
  }
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(keyHash, { found, until: now + API_KEY_CACHE_MS });
  return found;
}

/** Drops every cached key of `store` (a key was deleted or changed here). */
export function forgetApiKeys(store: Store): void {
  caches.get(store)?.clear();
}
