import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { POLL_INTERVAL_MS } from '../api/live-stream';
import { useClient } from '../api/weft-client';
import { CursorPager } from '../ui/cursor-pager';
import { QueryState } from '../ui/query-state';
import { StatusBadge } from '../ui/status-badge';
import { formatSpan } from '../ui/time';
import { useCursorPages } from '../ui/use-cursor-pages';
import { errorText } from './failure-summary';
import { executionKeys } from './use-live-execution';

const ITEM_STATUSES = ['pending', 'queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'];
const PAGE_SIZE = 25;

/** The items of a `for_each` step, by index, filtered by status, one page at a time. */
export function ItemTable(props: { executionId: string; stepId: string; live: boolean }) {
  const client = useClient();
  const [status, setStatus] = useState('');
  const pages = useCursorPages(`${props.stepId}|${status}`);
  const cursor = pages.cursor;
  const items = useQuery({
    queryKey: [...executionKeys.items(props.executionId), props.stepId, status, cursor ?? null],
    queryFn: ({ signal }) =>
      client.executions.items(
        props.executionId,
        props.stepId,
        { limit: PAGE_SIZE, ...(status ? { status: status as 'failed' } : {}), ...(cursor ? { cursor } : {}) },
        { signal },
      ),
    placeholderData: keepPreviousData,
    refetchInterval: props.live ? false : POLL_INTERVAL_MS,
  });
  return (
    <div data-view="items">
      <div className="row" style={{ marginBottom: 6 }}>
        <label htmlFor="item-status" className="small">
          Items
        </label>
        <select id="item-status" value={status} onChange={(event) => setStatus(event.target.value)}>
          <option value="">all</option>
          {ITEM_STATUSES.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </div>
      <QueryState isLoading={items.isLoading} error={items.error} what="items" />
      {items.data ? (
        items.data.items.length === 0 ? (
          <p className="subtle small">No items{status ? ` ${status}` : ''}.</p>
        ) : (
          <table className="list" style={{ fontSize: 12.5 }}>
            <thead>
              <tr>
                <th className="num">#</th>
                <th>Status</th>
                <th className="num">Tries</th>
                <th>Took</th>
                <th>Output / error</th>
              </tr>
            </thead>
            <tbody>
              {items.data.items.map((item) => (
                <tr key={item.index} data-item-index={item.index} data-status={item.status}>
                  <td className="num">{item.index}</td>
                  <td>
                    <StatusBadge status={item.status} />
                  </td>
                  <td className="num">{item.attempts}</td>
                  <td className="small">{formatSpan(item.started_at, item.completed_at)}</td>
                  <td
                    className="mono small"
                    style={{ maxWidth: 150, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}
                  >
                    {item.child_execution_id ? (
                      <Link to={`/executions/${item.child_execution_id}`}>child ↗</Link>
                    ) : null}{' '}
                    {item.waiting_for_signal ? `waits for “${item.waiting_for_signal}”` : null}
                    <span
                      title={item.error ? errorText(item.error) : JSON.stringify(item.output)}
                      style={item.error ? { color: 'var(--status-danger)' } : undefined}
                    >
                      {item.error
                        ? errorText(item.error)
                        : item.output === null || item.output === undefined
                          ? ''
                          : JSON.stringify(item.output)}
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      <CursorPager
        label="Item pages"
        pageNumber={pages.pageNumber}
        hasNext={Boolean(items.data?.next_cursor)}
        onNext={() => pages.next(items.data?.next_cursor)}
        onPrevious={pages.previous}
        busy={items.isFetching}
      />
    </div>
  );
}
