import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useClient } from '../api/weft-client';
import { CursorPager } from '../ui/cursor-pager';
import { JsonView } from '../ui/json-view';
import { QueryState } from '../ui/query-state';
import { StatusBadge } from '../ui/status-badge';
import { formatTime } from '../ui/time';
import { useCursorPages } from '../ui/use-cursor-pages';
import { errorText } from './failure-summary';
import { executionKeys } from './use-live-execution';

const PAGE_SIZE = 100;

/** The execution's event log, oldest first, a page at a time; a row opens its data. */
export function EventLog(props: { executionId: string; onSelect: (stepId: string) => void }) {
  const client = useClient();
  const pages = useCursorPages(props.executionId);
  const [open, setOpen] = useState<string | null>(null);
  const cursor = pages.cursor;
  const events = useQuery({
    queryKey: [...executionKeys.events(props.executionId), cursor ?? null],
    queryFn: ({ signal }) =>
      client.executions.events(
        props.executionId,
        { order: 'asc', limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) },
        { signal },
      ),
    placeholderData: keepPreviousData,
  });
  return (
    <div className="event-log" data-view="events">
      <QueryState isLoading={events.isLoading} error={events.error} what="events" />
      {events.data ? (
        <table className="list">
          <thead>
            <tr>
              <th>Time</th>
              <th>Event</th>
              <th>Step</th>
              <th>Status</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {events.data.items.map((event) => {
              const data = event.data as Record<string, unknown>;
              const detail = data.error ? errorText(data.error) : typeof data.reason === 'string' ? data.reason : '';
              return (
                <tr
                  key={event.id}
                  data-event-type={event.type}
                  onClick={() => setOpen(open === event.id ? null : event.id)}
                  style={{ cursor: 'pointer' }}
                >
                  <td className="small subtle mono">{formatTime(event.created_at)}</td>
                  <td className="mono small">
                    {event.type}
                    {open === event.id ? <JsonView value={event.data} name={event.id} /> : null}
                  </td>
                  <td>
                    {event.step_id ? (
                      <button
                        type="button"
                        className="link mono"
                        onClick={(click) => {
                          click.stopPropagation();
                          if (event.step_id) props.onSelect(event.step_id);
                        }}
                      >
                        {event.step_id}
                        {typeof data.index === 'number' ? ` [${data.index}]` : ''}
                      </button>
                    ) : null}
                  </td>
                  <td>{typeof data.status === 'string' ? <StatusBadge status={data.status} /> : null}</td>
                  <td className="small" style={{ color: data.error ? 'var(--status-danger)' : undefined }}>
                    {typeof data.attempt === 'number' ? `attempt ${data.attempt} ` : ''}
                    {detail}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
      <CursorPager
        label="Event pages"
        pageNumber={pages.pageNumber}
        hasNext={Boolean(events.data?.next_cursor)}
        onNext={() => pages.next(events.data?.next_cursor)}
        onPrevious={pages.previous}
        busy={events.isFetching}
      />
    </div>
  );
}
