import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import type { ExecutionListQuery, ExecutionPage } from '../../../src/sdk/types';
import { liveLabel, POLL_INTERVAL_MS, type StreamMessage, throttle, useLiveStream } from '../api/live-stream';
import { errorMessage, useClient } from '../api/weft-client';
import { CursorPager } from '../ui/cursor-pager';
import { QueryState } from '../ui/query-state';
import { EXECUTION_STATUSES, executionActions } from '../ui/status';
import { StatusBadge } from '../ui/status-badge';
import { formatAgo, formatSpan, formatTime } from '../ui/time';
import { useCursorPages } from '../ui/use-cursor-pages';
import { isExecutionStatus } from './apply-event';
import { listQuery, readFilters } from './list-filters';

const PAGE_SIZE = 50;
type Row = ExecutionPage['items'][number];

/** Executions (SPEC §7): filters in the URL, cursor pages, live statuses, bulk cancel and retry. */
export function ExecutionsPage() {
  const client = useClient();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const filters = readFilters(params);
  const query = listQuery(filters);
  const filterKey = JSON.stringify(query);
  const pages = useCursorPages(filterKey);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const listKey = ['executions', 'list', filterKey, pages.cursor ?? null];

  const workflows = useQuery({
    queryKey: ['workflows', 'list', 'names'],
    queryFn: ({ signal }) => client.workflows.list({ limit: 200 }, { signal }),
    staleTime: 60_000,
  });

  const onMessage = useRef<(message: StreamMessage) => void>(() => undefined);
  const mode = useLiveStream(
    filters.workflow_id ? `/stream?workflow_id=${encodeURIComponent(filters.workflow_id)}` : '/stream',
    (message) => onMessage.current(message),
  );
  const list = useQuery({
    queryKey: listKey,
    queryFn: ({ signal }) =>
      client.executions.list(
        { limit: PAGE_SIZE, ...query, ...(pages.cursor ? { cursor: pages.cursor } : {}) } as ExecutionListQuery,
        { signal },
      ),
    placeholderData: keepPreviousData,
    refetchInterval: mode === 'polling' ? POLL_INTERVAL_MS : false,
  });

  // Live: a status event updates its row at once; any event of a shown execution (or a new one on
  // the first page) refetches the page, at most once a second.
  const refetch = useMemo(
    () => throttle(() => queryClient.invalidateQueries({ queryKey: ['executions', 'list'] }), 1000),
    [queryClient],
  );
  onMessage.current = (message) => {
    const executionId = message.data.execution_id;
    if (typeof executionId !== 'string') return;
    const shown = list.data?.items.some((item) => item.id === executionId) ?? false;
    const status = message.data.status;
    if (message.type.startsWith('workflow.') && shown && typeof status === 'string' && isExecutionStatus(status)) {
      queryClient.setQueryData<ExecutionPage>(listKey, (page) =>
        page
          ? {
              ...page,
              items: page.items.map((item) => (item.id === executionId ? { ...item, status } : item)),
            }
          : page,
      );
    }
    if (shown || (pages.pageNumber === 1 && message.type === 'workflow.started')) refetch();
  };

  const bulk = useMutation({
    mutationFn: async (action: 'cancel' | 'retry') => {
      const rows = (list.data?.items ?? []).filter(
        (row) => selected.has(row.id) && executionActions(row.status).includes(action),
      );
      const results = await Promise.allSettled(
        rows.map((row) => (action === 'cancel' ? client.executions.cancel(row.id) : client.executions.retry(row.id))),
      );
      const failed = results.filter((result) => result.status === 'rejected');
      if (failed.length > 0)
        throw new Error(
          `${failed.length} of ${rows.length} could not be changed: ${errorMessage((failed[0] as PromiseRejectedResult).reason)}`,
        );
      return rows.length;
    },
    onSettled: () => {
      setSelected(new Set());
      queryClient.invalidateQueries({ queryKey: ['executions'] });
    },
  });

  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
    setSelected(new Set());
  };
  const items = (list.data?.items ?? []) as Row[];
  const selectedRows = items.filter((row) => selected.has(row.id));
  const canCancel = selectedRows.filter((row) => executionActions(row.status).includes('cancel')).length;
  const canRetry = selectedRows.filter((row) => executionActions(row.status).includes('retry')).length;
  const live = liveLabel(mode);
  const workflowName = (row: Row) =>
    row.workflow_name ??
    workflows.data?.items.find((workflow) => workflow.id === row.workflow_id)?.name ??
    row.workflow_id ??
    'ad-hoc';

  return (
    <div className="page">
      <div className="page-header">
        <h1>Executions</h1>
        <span className="small subtle" data-live={mode}>
          <span className={`live-dot${live.on ? '' : ' off'}`} />
          {live.text}
        </span>
        <div className="actions">
          <button
            type="button"
            className="danger"
            disabled={canCancel === 0 || bulk.isPending}
            onClick={() => bulk.mutate('cancel')}
          >
            Cancel selected{canCancel ? ` (${canCancel})` : ''}
          </button>
          <button type="button" disabled={canRetry === 0 || bulk.isPending} onClick={() => bulk.mutate('retry')}>
            Retry selected{canRetry ? ` (${canRetry})` : ''}
          </button>
        </div>
      </div>
      {bulk.error ? (
        <div className="banner" role="alert">
          {errorMessage(bulk.error)}
        </div>
      ) : null}
      <div className="card">
        <form className="toolbar" onSubmit={(event) => event.preventDefault()} aria-label="Filters">
          <select
            aria-label="Status"
            name="status"
            value={filters.status}
            onChange={(event) => setFilter('status', event.target.value)}
          >
            <option value="">any status</option>
            {EXECUTION_STATUSES.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
          <select
            aria-label="Workflow"
            name="workflow_id"
            value={filters.workflow_id}
            onChange={(event) => setFilter('workflow_id', event.target.value)}
          >
            <option value="">any workflow</option>
            {filters.workflow_id && !workflows.data?.items.some((workflow) => workflow.id === filters.workflow_id) ? (
              <option value={filters.workflow_id}>{filters.workflow_id}</option>
            ) : null}
            {(workflows.data?.items ?? []).map((workflow) => (
              <option key={workflow.id} value={workflow.id}>
                {workflow.name}
              </option>
            ))}
          </select>
          <input
            aria-label="Label (key:value)"
            name="label"
            placeholder="label key:value"
            defaultValue={filters.label}
            onBlur={(event) => setFilter('label', event.target.value.trim())}
            onKeyDown={(event) => event.key === 'Enter' && setFilter('label', event.currentTarget.value.trim())}
          />
          <input
            aria-label="Reference"
            name="reference"
            placeholder="reference"
            defaultValue={filters.reference}
            onBlur={(event) => setFilter('reference', event.target.value.trim())}
            onKeyDown={(event) => event.key === 'Enter' && setFilter('reference', event.currentTarget.value.trim())}
          />
          <label className="small subtle" htmlFor="after">
            from
          </label>
          <input
            id="after"
            type="datetime-local"
            name="after"
            value={filters.after}
            onChange={(event) => setFilter('after', event.target.value)}
          />
          <label className="small subtle" htmlFor="before">
            to
          </label>
          <input
            id="before"
            type="datetime-local"
            name="before"
            value={filters.before}
            onChange={(event) => setFilter('before', event.target.value)}
          />
          {params.toString() ? (
            <button type="button" className="ghost" onClick={() => setParams(new URLSearchParams(), { replace: true })}>
              Clear filters
            </button>
          ) : null}
        </form>
        <QueryState isLoading={list.isLoading} error={list.error} what="executions" />
        {list.data && items.length === 0 ? <div className="empty">No execution matches these filters.</div> : null}
        {items.length > 0 ? (
          <div className="table-wrap">
            <table className="list" data-list="executions">
              <thead>
                <tr>
                  <th style={{ width: 32 }}>
                    <input
                      type="checkbox"
                      aria-label="Select all on this page"
                      checked={selectedRows.length === items.length}
                      onChange={(event) =>
                        setSelected(event.target.checked ? new Set(items.map((row) => row.id)) : new Set())
                      }
                    />
                  </th>
                  <th>Status</th>
                  <th>Execution</th>
                  <th>Workflow</th>
                  <th>Started</th>
                  <th className="num">Duration</th>
                  <th>Progress</th>
                </tr>
              </thead>
              <tbody>
                {items.map((row) => (
                  <tr key={row.id} data-execution-id={row.id} data-status={row.status}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Select ${row.id}`}
                        checked={selected.has(row.id)}
                        onChange={(event) => {
                          const next = new Set(selected);
                          if (event.target.checked) next.add(row.id);
                          else next.delete(row.id);
                          setSelected(next);
                        }}
                      />
                    </td>
                    <td>
                      <StatusBadge status={row.status} />
                    </td>
                    <td>
                      <Link to={`/executions/${row.id}`} className="mono">
                        {row.id}
                      </Link>
                      {row.reference ? <div className="small subtle">ref {row.reference}</div> : null}
                    </td>
                    <td>
                      {row.workflow_id ? (
                        <Link to={`/workflows/${row.workflow_id}`}>{workflowName(row)}</Link>
                      ) : (
                        <span className="subtle">ad-hoc</span>
                      )}
                    </td>
                    <td title={formatTime(row.started_at ?? row.created_at)}>
                      {formatAgo(row.started_at ?? row.created_at)}
                    </td>
                    <td className="num">{formatSpan(row.started_at, row.completed_at)}</td>
                    <td>
                      <span className={`progress${row.progress.failed > 0 ? ' failed' : ''}`} aria-hidden="true">
                        <span style={{ width: `${row.progress.percent}%` }} />
                      </span>{' '}
                      <span className="small subtle">
                        {row.progress.completed}/{row.progress.total}
                      </span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        <CursorPager
          pageNumber={pages.pageNumber}
          hasNext={Boolean(list.data?.next_cursor)}
          onNext={() => pages.next(list.data?.next_cursor)}
          onPrevious={pages.previous}
          busy={list.isFetching}
        />
      </div>
    </div>
  );
}
