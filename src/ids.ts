import { randomFillSync } from 'node:crypto';
import { encodeTime, monotonicFactory, TIME_MAX } from 'ulid';

/**
 * Ids are opaque strings: a type prefix and a lowercase ULID. ULIDs grow with time (and
 * monotonically within a process), so "newest first" is "id descending" and a cursor is an id.
 */
const nextUlid = monotonicFactory(pooledRandom());

/**
 * ulid's own generator asks the OS for one random byte per character (16 calls per id); ids are
 * made several times per step, so random bytes are drawn 4 KiB at a time instead.
 */
function pooledRandom(): () => number {
  const pool = new Uint8Array(4096);
  let next = pool.length;
  return () => {
    if (next === pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    return (pool[next++] as number) / 256;
  };
}

/** Prefixes of each kind of object. */
export type IdPrefix = 'ws' | 'key' | 'wf' | 'ex' | 'st' | 'evt' | 'ev' | 'wh' | 'dl' | 'task' | 'sig';

/** A new id such as `wf_01jf3k...`. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${nextUlid().toLowerCase()}`;
}

/**
 * The smallest id of `prefix` that a `newId` at epoch millisecond `ms` or later can have: ids of
 * one prefix sort by the time they were made, so a time bound is also an id bound.
 */
export function firstIdAt(prefix: IdPrefix, ms: number): string {
  return `${prefix}_${encodeTime(Math.min(Math.max(0, Math.floor(ms)), TIME_MAX), 10).toLowerCase()}`;
}

/** The current time as ISO 8601 UTC with milliseconds. */
export function nowIso(): string {
  return new Date().toISOString();
}
