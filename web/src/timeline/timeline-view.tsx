import { useQuery } from '@tanstack/react-query';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useMemo, useRef, useState } from 'react';
import type { Execution } from '../../../src/sdk/types';
import { POLL_INTERVAL_MS } from '../api/live-stream';
import { useClient } from '../api/weft-client';
import { errorText } from '../executions/failure-summary';
import { executionKeys } from '../executions/use-live-execution';
import { QueryState } from '../ui/query-state';
import { isTerminalExecution, statusLook } from '../ui/status';
import { formatDuration } from '../ui/time';
import { layoutTimeline, type TimelineBar } from './timeline-geometry';

const ROW_HEIGHT = 26;
/** The label column (styles.css `.timeline`). */
const LABEL_WIDTH = 200;

function barTitle(bar: TimelineBar): string {
  const entry = bar.entry;
  const lines = [
    `${entry.step_id}${entry.index === null ? '' : ` [${entry.index}]`} · attempt ${entry.attempt}${entry.used_fallback ? ' (fallback)' : ''}`,
    `${entry.status}${entry.duration_ms === null ? '' : ` in ${formatDuration(entry.duration_ms)}`}`,
  ];
  if (entry.queued_at && entry.started_at)
    lines.push(`queued ${formatDuration(Date.parse(entry.started_at) - Date.parse(entry.queued_at))}`);
  if (entry.worker) lines.push(`worker ${entry.worker}`);
  if (entry.error) lines.push(errorText(entry.error));
  return lines.join('\n');
}

/**
 * The timeline (SPEC §7): a Gantt chart with one bar per attempt, its queued part hatched and its
 * running part solid, rows virtualised so that thousands of item attempts stay smooth.
 */
export function TimelineView(props: {
  executionId: string;
  execution: Execution;
  order: readonly string[];
  selected: string | null;
  onSelect: (stepId: string) => void;
  polling: boolean;
}) {
  const client = useClient();
  const timeline = useQuery({
    queryKey: executionKeys.timeline(props.executionId),
    queryFn: ({ signal }) => client.executions.timeline(props.executionId, { signal }),
    refetchInterval: props.polling ? POLL_INTERVAL_MS : false,
  });
  const chart = useRef<HTMLDivElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);
  const [now, setNow] = useState(() => Date.now());
  const running = !isTerminalExecution(props.execution.status);

  useEffect(() => {
    const element = chart.current;
    if (!element) return;
    const observer = new ResizeObserver(
      ([entry]) => entry && setWidth(Math.max(200, entry.contentRect.width - LABEL_WIDTH - 24)),
    );
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);

  const layout = useMemo(
    () =>
      layoutTimeline(timeline.data?.items ?? [], {
        width,
        nowMs: running ? now : Date.parse(props.execution.completed_at ?? new Date(now).toISOString()),
        startedAt: props.execution.started_at,
        stepOrder: props.order,
      }),
    [timeline.data, width, now, running, props.execution.completed_at, props.execution.started_at, props.order],
  );
  const rows = useVirtualizer({
    count: layout.rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });

  return (
    <div data-view="timeline" style={{ display: 'flex', flexDirection: 'column', minHeight: 0 }}>
      <div className="legend">
        <span>
          <span
            className="swatch tone-active"
            style={{
              background:
                'repeating-linear-gradient(45deg, var(--tone), var(--tone) 2px, transparent 2px, transparent 5px)',
              opacity: 0.6,
            }}
          />
          queued
        </span>
        <span>
          <span className="swatch tone-active" style={{ background: 'var(--tone)' }} />
          running, coloured by outcome
        </span>
        <span className="subtle">
          {layout.rows.length} rows · spans {formatDuration(layout.spanMs)}
        </span>
      </div>
      <QueryState isLoading={timeline.isLoading} error={timeline.error} what="the timeline" />
      <div ref={chart} className="timeline" style={{ borderTop: '1px solid var(--border)' }}>
        <div className="axis" />
        <div className="axis">
          {layout.ticks.map((tick) => (
            <span key={tick.x} style={{ left: tick.x + 8 }}>
              {tick.label}
            </span>
          ))}
        </div>
      </div>
      <div ref={scroller} style={{ overflow: 'auto', maxHeight: 'calc(100vh - 330px)', minHeight: 200 }}>
        <div style={{ height: rows.getTotalSize(), position: 'relative' }}>
          {rows.getVirtualItems().map((virtual) => {
            const row = layout.rows[virtual.index];
            if (!row) return null;
            return (
              <div
                key={row.key}
                className="timeline"
                style={{ position: 'absolute', top: virtual.start, left: 0, right: 0 }}
                data-row={row.key}
              >
                <button
                  type="button"
                  className={`label ghost${props.selected === row.stepId ? ' selected' : ''}`}
                  style={{ textAlign: 'left', borderRadius: 0, fontWeight: props.selected === row.stepId ? 600 : 400 }}
                  onClick={() => props.onSelect(row.stepId)}
                >
                  <span className="mono">{row.label}</span>
                </button>
                <div className="lane">
                  {row.bars.map((bar) => {
                    const look = statusLook(bar.entry.status);
                    return (
                      // biome-ignore lint/a11y/useKeyWithClickEvents: the row's label button selects the same step from the keyboard.
                      // biome-ignore lint/a11y/noStaticElementInteractions: see above.
                      <div
                        key={`${bar.entry.attempt}-${bar.entry.used_fallback}-${bar.queuedX}`}
                        className={`bar tone-${look.tone}${bar.open ? ' open' : ''}`}
                        style={{ left: bar.queuedX + 8, width: Math.max(3, bar.endX - bar.queuedX) }}
                        title={barTitle(bar)}
                        data-step-id={bar.entry.step_id}
                        data-attempt={bar.entry.attempt}
                        data-index={bar.entry.index ?? undefined}
                        data-status={bar.entry.status}
                        onClick={() => props.onSelect(bar.entry.step_id)}
                      >
                        {bar.runX > bar.queuedX ? (
                          <span className="queued" style={{ width: bar.runX - bar.queuedX }} />
                        ) : null}
                        <span className="run" style={{ width: Math.max(3, bar.endX - bar.runX) }} />
                      </div>
                    );
                  })}
                </div>
              </div>
            );
          })}
        </div>
      </div>
      {layout.rows.length === 0 && timeline.data ? <div className="empty">No attempt has started yet.</div> : null}
    </div>
  );
}
