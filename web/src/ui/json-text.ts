/**
 * JSON values as text for people: pretty-printed, and cut past a size so that a page never
 * renders megabytes (SPEC §7 issue: values over 256 KiB are shown truncated, with a download).
 * Pure: unit-tested in json-text.test.ts.
 */

/** Above this many bytes of pretty JSON a value is shown truncated. */
export const JSON_DISPLAY_LIMIT_BYTES = 256 * 1024;

/** A value's text and whether it was cut. */
export interface JsonText {
  /** What to show (the whole text, or its first JSON_DISPLAY_LIMIT_BYTES). */
  shown: string;
  /** The whole text, for the download. */
  full: string;
  truncated: boolean;
  bytes: number;
}

/** Pretty JSON of a value, cut at `limit` UTF-8 bytes. */
export function jsonText(value: unknown, limit = JSON_DISPLAY_LIMIT_BYTES): JsonText {
  const full = value === undefined ? 'undefined' : JSON.stringify(value, null, 2);
  const bytes = new TextEncoder().encode(full).length;
  if (bytes <= limit) return { shown: full, full, truncated: false, bytes };
  // Cut by characters first (cheap), then trim until the bytes fit: multi-byte text is rare here.
  let shown = full.slice(0, limit);
  while (new TextEncoder().encode(shown).length > limit) shown = shown.slice(0, Math.floor(shown.length * 0.95));
  return { shown, full, truncated: true, bytes };
}

/** `1.2 MiB`, `340 KiB`, `12 B`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
