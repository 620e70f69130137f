import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import type { Workflow } from '../../../src/sdk/types';
import { errorMessage, useClient } from '../api/weft-client';
import { CursorPager } from '../ui/cursor-pager';
import { Labels } from '../ui/labels';
import { QueryState } from '../ui/query-state';
import { StatusBadge } from '../ui/status-badge';
import { formatAgo } from '../ui/time';
import { useCursorPages } from '../ui/use-cursor-pages';
import { CreateWorkflowDialog } from './create-workflow-dialog';

const PAGE_SIZE = 50;

/** Success rate of one workflow from the stats' counts: completed over ended. */
export function successRate(byStatus: Record<string, number> | undefined): number | null {
  if (!byStatus) return null;
  const ended = (byStatus.completed ?? 0) + (byStatus.failed ?? 0) + (byStatus.cancelled ?? 0);
  return ended === 0 ? null : (byStatus.completed ?? 0) / ended;
}

/** Workflows (SPEC §7): search, label filter, pages; create; enable and disable. */
export function WorkflowsPage() {
  const client = useClient();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const label = params.get('label') ?? '';
  const [creating, setCreating] = useState(params.get('new') === '1');
  const pages = useCursorPages(`${q}|${label}`);

  const list = useQuery({
    queryKey: ['workflows', 'list', { q, label, cursor: pages.cursor }],
    queryFn: ({ signal }) =>
      client.workflows.list(
        {
          limit: PAGE_SIZE,
          ...(q ? { q } : {}),
          ...(label ? { label: [label] } : {}),
          ...(pages.cursor ? { cursor: pages.cursor } : {}),
        },
        { signal },
      ),
    placeholderData: keepPreviousData,
  });
  // One stats call covers every workflow of the page (the server caches it for a few seconds).
  const stats = useQuery({
    queryKey: ['stats', 'executions'],
    queryFn: ({ signal }) => client.stats.executions({}, { signal }),
    staleTime: 10_000,
  });
  const byWorkflow = new Map((stats.data?.workflows ?? []).map((entry) => [entry.workflow_id, entry]));

  const toggle = useMutation({
    mutationFn: (workflow: Workflow) => client.workflows.patch(workflow.id, { enabled: !workflow.enabled }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['workflows'] }),
  });

  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  };

  return (
    <div className="page">
      <div className="page-header">
        <h1>Workflows</h1>
        <div className="actions">
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New workflow
          </button>
        </div>
      </div>
      <div className="card">
        <form className="toolbar" onSubmit={(event) => event.preventDefault()} aria-label="Search workflows">
          <input
            type="search"
            name="q"
            aria-label="Search by name"
            placeholder="Search by name"
            defaultValue={q}
            onChange={(event) => setFilter('q', event.target.value.trim())}
          />
          <input
            name="label"
            aria-label="Filter by label (key:value)"
            placeholder="label key:value"
            defaultValue={label}
            onChange={(event) => {
              const value = event.target.value.trim();
              if (value === '' || /^[^:]+:.*$/.test(value)) setFilter('label', value);
            }}
          />
          {toggle.error ? <span className="form-error small">{errorMessage(toggle.error)}</span> : null}
        </form>
        <QueryState isLoading={list.isLoading} error={list.error} what="workflows" />
        {list.data ? (
          list.data.items.length === 0 ? (
            <div className="empty">
              {q || label ? 'No workflow matches.' : 'No workflows yet. Create one from a template to start.'}
            </div>
          ) : (
            <div className="table-wrap">
              <table className="list" data-list="workflows">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Labels</th>
                    <th>Enabled</th>
                    <th className="num">Version</th>
                    <th>Last run</th>
                    <th className="num">Success</th>
                    <th>Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.items.map((workflow) => {
                    const rate = successRate(byWorkflow.get(workflow.id)?.by_status);
                    const last = workflow.last_execution;
                    return (
                      <tr key={workflow.id} data-workflow-id={workflow.id}>
                        <td>
                          <Link to={`/workflows/${workflow.id}`}>{workflow.name}</Link>
                          {workflow.description ? <div className="subtle small">{workflow.description}</div> : null}
                        </td>
                        <td>
                          <Labels labels={workflow.labels} />
                        </td>
                        <td>
                          <label className="row small">
                            <input
                              type="checkbox"
                              checked={workflow.enabled}
                              onChange={() => toggle.mutate(workflow)}
                              aria-label={`${workflow.enabled ? 'Disable' : 'Enable'} ${workflow.name}`}
                            />
                            {workflow.enabled ? 'enabled' : 'disabled'}
                          </label>
                        </td>
                        <td className="num">v{workflow.version}</td>
                        <td>
                          {last ? (
                            <Link to={`/executions/${last.id}`} title={last.created_at}>
                              <StatusBadge status={last.status} />{' '}
                              <span className="subtle small">{formatAgo(last.created_at)}</span>
                            </Link>
                          ) : (
                            <span className="subtle">never</span>
                          )}
                        </td>
                        <td className="num">{rate === null ? '—' : `${Math.round(rate * 100)}%`}</td>
                        <td className="subtle">{formatAgo(workflow.updated_at)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )
        ) : null}
        <CursorPager
          pageNumber={pages.pageNumber}
          hasNext={Boolean(list.data?.next_cursor)}
          onNext={() => pages.next(list.data?.next_cursor)}
          onPrevious={pages.previous}
          busy={list.isFetching}
        />
      </div>
      {creating ? <CreateWorkflowDialog onClose={() => setCreating(false)} /> : null}
    </div>
  );
}
