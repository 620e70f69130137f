import { useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { useClient } from '../api/weft-client';
import { QueryState } from '../ui/query-state';
import { formatTime } from '../ui/time';
import { definitionDiff } from './definition-diff';

/** A workflow's versions, and the diff of any two of them. */
export function VersionsPanel(props: { workflowId: string; latest: number }) {
  const client = useClient();
  const versions = useQuery({
    queryKey: ['workflows', props.workflowId, 'versions'],
    queryFn: ({ signal }) => client.workflows.versions(props.workflowId, { signal }),
  });
  const [from, setFrom] = useState(Math.max(1, props.latest - 1));
  const [to, setTo] = useState(props.latest);
  const items = versions.data?.items ?? [];
  const before = items.find((item) => item.version === from);
  const after = items.find((item) => item.version === to);
  const diff = useMemo(
    () => (before && after ? definitionDiff(before.definition, after.definition) : null),
    [before, after],
  );

  return (
    <section className="card padded" aria-label="Versions" data-section="versions">
      <h2>Versions</h2>
      <QueryState isLoading={versions.isLoading} error={versions.error} what="versions" />
      {items.length > 0 ? (
        <>
          <table className="list">
            <thead>
              <tr>
                <th>Version</th>
                <th>Saved</th>
                <th>Steps</th>
              </tr>
            </thead>
            <tbody>
              {items.slice(0, 10).map((item) => (
                <tr key={item.version}>
                  <td>v{item.version}</td>
                  <td className="subtle">{formatTime(item.created_at)}</td>
                  <td>{((item.definition as { steps?: unknown[] }).steps ?? []).length}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {items.length > 1 ? (
            <>
              <div className="row" style={{ marginTop: 12 }}>
                <label htmlFor="diff-from">Compare</label>
                <select id="diff-from" value={from} onChange={(event) => setFrom(Number(event.target.value))}>
                  {items.map((item) => (
                    <option key={item.version} value={item.version}>
                      v{item.version}
                    </option>
                  ))}
                </select>
                <label htmlFor="diff-to">with</label>
                <select id="diff-to" value={to} onChange={(event) => setTo(Number(event.target.value))}>
                  {items.map((item) => (
                    <option key={item.version} value={item.version}>
                      v{item.version}
                    </option>
                  ))}
                </select>
                {diff ? (
                  <span className="small subtle">
                    <span style={{ color: 'var(--status-success)' }}>+{diff.added}</span>{' '}
                    <span style={{ color: 'var(--status-danger)' }}>−{diff.removed}</span>
                  </span>
                ) : null}
              </div>
              {diff ? (
                <div className="diff" data-view="diff" style={{ marginTop: 8 }}>
                  {diff.added + diff.removed === 0 ? <div className="gap">The two versions are the same.</div> : null}
                  {diff.lines.map((line, index) => (
                    // biome-ignore lint/suspicious/noArrayIndexKey: lines of a diff have no identity but their place.
                    <div key={index} className={line.kind}>
                      {line.kind === 'added' ? '+ ' : line.kind === 'removed' ? '- ' : line.kind === 'gap' ? '' : '  '}
                      {line.text}
                    </div>
                  ))}
                </div>
              ) : null}
            </>
          ) : (
            <p className="subtle small">One version so far: saving a changed definition makes version 2.</p>
          )}
        </>
      ) : null}
    </section>
  );
}
