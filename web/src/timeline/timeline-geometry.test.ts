import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { axisTicks, formatDuration, layoutTimeline, type TimelineEntryInput } from './timeline-geometry';

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
const T0 = Date.UTC(2026, 0, 1);
function entry(
  step: string,
  attempt: number,
  times: [number | null, number | null, number | null],
  extra: Partial<TimelineEntryInput> = {},
): TimelineEntryInput {
  const [queued, started, ended] = times;
  return {
    step_id: step,
    index: null,
    attempt,
    type: 'noop',
    status: ended === null ? 'running' : 'completed',
    used_fallback: false,
    queued_at: queued === null ? null : at(queued),
    started_at: started === null ? null : at(started),
    ended_at: ended === null ? null : at(ended),
    duration_ms: started !== null && ended !== null ? ended - started : null,
    worker: null,
    error: null,
    ...extra,
  };
}

describe('layoutTimeline', () => {
  it('draws one bar per attempt with its queued part before its running part, on one shared axis', () => {
    const layout = layoutTimeline(
      [
        entry('a', 1, [0, 100, 400], { status: 'failed' }),
        entry('a', 2, [600, 700, 1000]),
        entry('b', 1, [1000, 1000, 1000]),
      ],
      { width: 1000, nowMs: T0 + 5000, startedAt: at(0), stepOrder: ['a', 'b'] },
    );
    assert.equal(layout.spanMs, 1000);
    assert.deepEqual(
      layout.rows.map((row) => [row.key, row.bars.length]),
      [
        ['a', 2],
        ['b', 1],
      ],
    );
    const [first, second] = layout.rows[0]?.bars ?? [];
    assert.deepEqual([first?.queuedX, first?.runX, first?.endX], [0, 100, 400]);
    assert.deepEqual([second?.queuedX, second?.runX, second?.endX], [600, 700, 1000]);
    assert.equal(first?.open, false);
  });

  it('runs an attempt under way to now, and orders rows by the definition then by item index', () => {
    const layout = layoutTimeline(
      [
        entry('late', 1, [0, 0, 100]),
        entry('items', 1, [0, 50, null], { index: 1 }),
        entry('items', 1, [0, 10, 60], { index: 0 }),
      ],
      { width: 500, nowMs: T0 + 500, startedAt: null, stepOrder: ['items', 'late'] },
    );
    assert.deepEqual(
      layout.rows.map((row) => row.label),
      ['items [0]', 'items [1]', 'late'],
    );
    const open = layout.rows[1]?.bars[0];
    assert.equal(open?.open, true);
    assert.equal(open?.endX, 500, 'an open attempt reaches the right edge at now');
  });

  it('draws an attempt that never started as a queued sliver at its queue time', () => {
    const layout = layoutTimeline(
      [entry('a', 1, [0, 0, 1000]), entry('b', 1, [500, null, null], { status: 'cancelled' })],
      {
        width: 100,
        nowMs: T0 + 1000,
        startedAt: at(0),
        stepOrder: ['a', 'b'],
      },
    );
    const bar = layout.rows[1]?.bars[0];
    assert.equal(bar?.open, false);
    assert.equal(bar?.queuedX, 50);
    assert.equal(bar?.endX, 50);
  });
});

describe('axis ticks and durations', () => {
  it('picks round steps that cover the span', () => {
    const ticks = axisTicks(4_900, 1000);
    assert.deepEqual(
      ticks.map((tick) => tick.label),
      ['0', '+1.0 s', '+2.0 s', '+3.0 s', '+4.0 s'],
    );
    assert.ok(ticks.every((tick) => tick.x >= 0 && tick.x <= 1000));
  });

  it('formats durations for people', () => {
    assert.equal(formatDuration(850), '850 ms');
    assert.equal(formatDuration(1200), '1.2 s');
    assert.equal(formatDuration(42_000), '42 s');
    assert.equal(formatDuration(185_000), '3 min 5 s');
    assert.equal(formatDuration(2 * 3_600_000 + 600_000), '2 h 10 min');
  });
});
