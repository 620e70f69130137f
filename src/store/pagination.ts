import { WeftError } from '../errors.js';

/**
 * Cursor pagination: lists are ordered by id descending (newest first) and a cursor is the last
 * id of the previous page, base64url-encoded so clients treat it as opaque.
 */

/** Page request: `limit` (1..200) and an optional cursor from a previous page. */
export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

/** Default and largest page size (SPEC §5). */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** Encodes the id a page ended at. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId }), 'utf8').toString('base64url');
}

/** Decodes a cursor; a cursor that was not made by `encodeCursor` is a 400 on `query/cursor`. */
export function decodeCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string' && parsed.after.length > 0 && parsed.after.length < 100) return parsed.after;
  } catch {
    // Falls through to the 400 below: any undecodable cursor is the client's mistake.
  }
  throw new WeftError('VALIDATION_FAILED', 'the cursor is not one this API returned', {
    errors: [{ path: 'query/cursor', message: 'invalid cursor' }],
  });
}

/** Cuts a fetched `limit + 1` rows down to one page and computes its next cursor. */
export function toPage<Row extends { id: string }, Item>(
  rows: Row[],
  limit: number,
  map: (row: Row) => Item,
): { items: Item[]; next_cursor: string | null } {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return { items: pageRows.map(map), next_cursor: hasMore && last ? encodeCursor(last.id) : null };
}
