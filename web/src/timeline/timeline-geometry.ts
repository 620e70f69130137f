/**
 * The geometry of the timeline (Gantt): one row per step (a `for_each` step's item attempts are
 * rows under it, labelled by index), one bar per attempt, split into its queued part (queued_at →
 * started_at) and its running part (started_at → ended_at, or now while under way). Pure:
 * unit-tested in timeline-geometry.test.ts.
 */

/** One attempt as `GET /executions/{id}/timeline` lists it. */
export interface TimelineEntryInput {
  step_id: string;
  index: number | null;
  attempt: number;
  type: string;
  status: string;
  used_fallback: boolean;
  queued_at: string | null;
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  worker: string | null;
  error: unknown;
}

/** One drawn bar: an attempt, in pixels of the chart's time axis. */
export interface TimelineBar {
  entry: TimelineEntryInput;
  /** Left edge of the queued part (equal to `runX` when it was not queued). */
  queuedX: number;
  /** Where it started running (equal to `endX` when it never started). */
  runX: number;
  endX: number;
  /** Still under way: the bar runs to now. */
  open: boolean;
}

/** One row: a step, or one item of a `for_each` step. */
export interface TimelineRow {
  key: string;
  stepId: string;
  index: number | null;
  label: string;
  bars: TimelineBar[];
}

/** A tick of the time axis. */
export interface TimelineTick {
  x: number;
  label: string;
}

/** The laid-out chart. */
export interface TimelineLayout {
  rows: TimelineRow[];
  ticks: TimelineTick[];
  /** Milliseconds the axis spans. */
  spanMs: number;
  startMs: number;
}

const time = (value: string | null): number | null => (value === null ? null : Date.parse(value));

/** Tick steps the axis may use, in ms: round numbers a reader expects. */
const TICK_STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
  900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000,
];

/** A duration as a short label: `850 ms`, `1.2 s`, `3 min 5 s`, `2 h 10 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 3_600_000) {
    const minutes = Math.floor(ms / 60_000);
    const seconds = Math.round((ms % 60_000) / 1000);
    return seconds === 0 ? `${minutes} min` : `${minutes} min ${seconds} s`;
  }
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.round((ms % 3_600_000) / 60_000);
  return minutes === 0 ? `${hours} h` : `${hours} h ${minutes} min`;
}

/** Ticks from 0 to `spanMs` at a round step, about `target` of them. */
export function axisTicks(spanMs: number, width: number, target = 6): TimelineTick[] {
  if (spanMs <= 0 || width <= 0) return [{ x: 0, label: '0' }];
  const wanted = spanMs / target;
  const step = TICK_STEPS.find((candidate) => candidate >= wanted) ?? TICK_STEPS[TICK_STEPS.length - 1] ?? 1;
  const ticks: TimelineTick[] = [];
  for (let at = 0; at <= spanMs + 1e-9; at += step) {
    ticks.push({ x: (at / spanMs) * width, label: at === 0 ? '0' : `+${formatDuration(at)}` });
  }
  return ticks;
}

/**
 * Lays out the attempts over `width` pixels. The axis runs from the earliest time named (the
 * execution's start, or the first attempt queued) to the last end, or to `nowMs` while anything
 * is under way. `stepOrder` lists step ids in definition order (rows follow it).
 */
export function layoutTimeline(
  entries: readonly TimelineEntryInput[],
  options: { width: number; nowMs: number; startedAt: string | null; stepOrder: readonly string[] },
): TimelineLayout {
  const starts = entries.flatMap((entry) => [time(entry.queued_at), time(entry.started_at)]);
  const candidates = [time(options.startedAt), ...starts].filter((value): value is number => value !== null);
  const startMs = candidates.length > 0 ? Math.min(...candidates) : options.nowMs;
  const open = (entry: TimelineEntryInput) => entry.ended_at === null && entry.started_at !== null;
  const ends = entries.map((entry) =>
    open(entry) ? options.nowMs : (time(entry.ended_at) ?? time(entry.started_at) ?? time(entry.queued_at) ?? startMs),
  );
  const endMs = Math.max(startMs + 1, ...ends);
  const spanMs = endMs - startMs;
  const x = (ms: number) => ((ms - startMs) / spanMs) * options.width;

  const rows = new Map<string, TimelineRow>();
  const order = new Map(options.stepOrder.map((id, position) => [id, position]));
  for (const entry of entries) {
    const key = entry.index === null ? entry.step_id : `${entry.step_id}[${entry.index}]`;
    let row = rows.get(key);
    if (!row) {
      row = {
        key,
        stepId: entry.step_id,
        index: entry.index,
        label: entry.index === null ? entry.step_id : `${entry.step_id} [${entry.index}]`,
        bars: [],
      };
      rows.set(key, row);
    }
    const queued = time(entry.queued_at);
    const started = time(entry.started_at);
    const ended = open(entry) ? options.nowMs : (time(entry.ended_at) ?? started ?? queued ?? startMs);
    const runStart = started ?? ended;
    row.bars.push({
      entry,
      queuedX: x(queued ?? runStart),
      runX: x(runStart),
      endX: Math.max(x(ended), x(runStart)),
      open: open(entry),
    });
  }
  const sorted = [...rows.values()].sort(
    (a, b) =>
      (order.get(a.stepId) ?? Number.MAX_SAFE_INTEGER) - (order.get(b.stepId) ?? Number.MAX_SAFE_INTEGER) ||
      (a.index ?? -1) - (b.index ?? -1),
  );
  return { rows: sorted, ticks: axisTicks(spanMs, options.width), spanMs, startMs };
}
