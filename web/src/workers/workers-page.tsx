import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useClient } from '../api/weft-client';
import { QueryState } from '../ui/query-state';
import { formatAgo, formatTime } from '../ui/time';

const REFRESH_MS = 5_000;

/** Workers (SPEC §7): the task types, their queue depth, and the workers seen recently. */
export function WorkersPage() {
  const client = useClient();
  const [activeOnly, setActiveOnly] = useState(false);
  const types = useQuery({
    queryKey: ['task-types'],
    queryFn: ({ signal }) => client.taskTypes.list({ signal }),
    refetchInterval: REFRESH_MS,
  });
  const workers = useQuery({
    queryKey: ['workers', activeOnly],
    queryFn: ({ signal }) => client.workers.list({ limit: 200, ...(activeOnly ? { active: true } : {}) }, { signal }),
    refetchInterval: REFRESH_MS,
  });
  const declared = (types.data?.items ?? []).filter((type) => type.source === 'declared');
  const others = (types.data?.items ?? []).filter((type) => type.source !== 'declared');

  return (
    <div className="page">
      <div className="page-header">
        <h1>Workers</h1>
        <span className="small subtle">refreshed every 5 s</span>
      </div>
      <section className="card" aria-label="Task types served by workers">
        <div className="toolbar">
          <h2 style={{ margin: 0 }}>Task types served by workers</h2>
        </div>
        <QueryState isLoading={types.isLoading} error={types.error} what="task types" />
        {types.data ? (
          declared.length === 0 ? (
            <div className="empty">
              No declared types. A worker declares its types when it starts (PUT /task-types/{'{type}'}).
            </div>
          ) : (
            <table className="list" data-list="task-types">
              <thead>
                <tr>
                  <th>Type</th>
                  <th>Description</th>
                  <th className="num">Queued</th>
                  <th className="num">Running</th>
                  <th className="num">Lease</th>
                  <th>Declared</th>
                </tr>
              </thead>
              <tbody>
                {declared.map((type) => (
                  <tr key={type.type} data-task-type={type.type}>
                    <td className="mono">{type.type}</td>
                    <td className="small">{type.description || <span className="subtle">—</span>}</td>
                    <td className="num" data-queue-depth={type.queued ?? 0}>
                      {type.queued ?? 0}
                    </td>
                    <td className="num">{type.running ?? 0}</td>
                    <td className="num">{type.lease_seconds ? `${type.lease_seconds} s` : '—'}</td>
                    <td className="small subtle">{formatTime(type.updated_at ?? type.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        ) : null}
        {others.length > 0 ? (
          <p className="small subtle" style={{ padding: '0 12px' }}>
            Run by the server itself: {others.map((type) => type.type).join(', ')}.
          </p>
        ) : null}
      </section>
      <section className="card" aria-label="Workers seen recently">
        <div className="toolbar">
          <h2 style={{ margin: 0 }}>Workers seen recently</h2>
          <label className="row small">
            <input type="checkbox" checked={activeOnly} onChange={(event) => setActiveOnly(event.target.checked)} />
            active only
          </label>
        </div>
        <QueryState isLoading={workers.isLoading} error={workers.error} what="workers" />
        {workers.data ? (
          workers.data.items.length === 0 ? (
            <div className="empty">
              No worker has polled yet. Start one with `weft worker &lt;module&gt;` or the SDK's createWorker.
            </div>
          ) : (
            <table className="list" data-list="workers">
              <thead>
                <tr>
                  <th>Worker</th>
                  <th>State</th>
                  <th>Types</th>
                  <th>Last poll</th>
                  <th>First seen</th>
                </tr>
              </thead>
              <tbody>
                {workers.data.items.map((worker) => (
                  <tr key={worker.worker_id} data-worker-id={worker.worker_id}>
                    <td className="mono">{worker.worker_id}</td>
                    <td>
                      <span className={`status tone-${worker.active ? 'success' : 'muted'}`}>
                        <span className="symbol" aria-hidden="true">
                          {worker.active ? '●' : '○'}
                        </span>
                        {worker.active ? 'active' : 'idle'}
                      </span>
                    </td>
                    <td className="mono small">{worker.types.join(', ')}</td>
                    <td title={formatTime(worker.last_poll_at)}>{formatAgo(worker.last_poll_at)}</td>
                    <td className="small subtle">{formatTime(worker.first_seen_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        ) : null}
      </section>
    </div>
  );
}
