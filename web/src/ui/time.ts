import { formatDuration } from '../timeline/timeline-geometry';

/**
 * Times for people: absolute in the viewer's time zone, relative for lists, durations between two
 * ISO times. Pure.
 */

/** `2026-12-06 14:03:07` in local time, or an em dash. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** `5 s ago`, `3 min ago`, `2 h ago`, `4 d ago`. */
export function formatAgo(iso: string | null | undefined, nowMs = Date.now()): string {
  if (!iso) return '—';
  const ms = Math.max(0, nowMs - Date.parse(iso));
  if (ms < 60_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)} h ago`;
  return `${Math.round(ms / 86_400_000)} d ago`;
}

/** The duration from `from` to `to` (or to now while under way), or an em dash. */
export function formatSpan(from: string | null | undefined, to: string | null | undefined, nowMs = Date.now()): string {
  if (!from) return '—';
  const end = to ? Date.parse(to) : nowMs;
  return formatDuration(Math.max(0, end - Date.parse(from)));
}

export { formatDuration };

/** `in 5 s`, `in 3 min` for a time ahead; `now` once it passed. */
export function formatIn(iso: string, nowMs = Date.now()): string {
  const ms = Date.parse(iso) - nowMs;
  if (ms <= 0) return 'now';
  return `in ${formatDuration(ms)}`;
}
