import { monotonicFactory } from 'ulid';

/**
 * Ids are opaque strings: a type prefix and a lowercase ULID. ULIDs grow with time (and
 * monotonically within a process), so "newest first" is "id descending" and a cursor is an id.
 */
const nextUlid = monotonicFactory();

/** Prefixes of each kind of object. */
export type IdPrefix = 'ws' | 'key' | 'wf' | 'ex' | 'st' | 'evt' | 'ev' | 'wh' | 'dl' | 'task' | 'sig';

/** A new id such as `wf_01jf3k...`. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${nextUlid().toLowerCase()}`;
}

/** The current time as ISO 8601 UTC with milliseconds. */
export function nowIso(): string {
  return new Date().toISOString();
}
