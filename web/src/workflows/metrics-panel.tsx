import { useQuery } from '@tanstack/react-query';
import { useClient } from '../api/weft-client';
import { QueryState } from '../ui/query-state';
import { formatDuration } from '../ui/time';

const ms = (value: number | null | undefined) => (value === null || value === undefined ? '—' : formatDuration(value));

/** A workflow's figures: success rate, durations (p50, p95, max), per-step attempts and failures. */
export function MetricsPanel(props: { workflowId: string }) {
  const client = useClient();
  const metrics = useQuery({
    queryKey: ['workflows', props.workflowId, 'metrics'],
    queryFn: ({ signal }) => client.stats.workflow(props.workflowId, { signal }),
    staleTime: 10_000,
  });
  const data = metrics.data;
  return (
    <section className="card padded" aria-label="Metrics" data-section="metrics">
      <h2>Metrics</h2>
      <QueryState isLoading={metrics.isLoading} error={metrics.error} what="metrics" />
      {data ? (
        <>
          <div className="stats">
            <div className="stat card">
              <div className="value" data-metric="success-rate">
                {data.success_rate === null ? '—' : `${Math.round(data.success_rate * 1000) / 10}%`}
              </div>
              <div className="name">success rate</div>
            </div>
            <div className="stat card">
              <div className="value">{data.executions.total}</div>
              <div className="name">executions</div>
            </div>
            <div className="stat card">
              <div className="value" data-metric="p50">
                {ms(data.duration_ms.p50)}
              </div>
              <div className="name">p50 duration</div>
            </div>
            <div className="stat card">
              <div className="value" data-metric="p95">
                {ms(data.duration_ms.p95)}
              </div>
              <div className="name">p95 duration</div>
            </div>
          </div>
          {data.steps.length > 0 ? (
            <table className="list" style={{ marginTop: 12 }}>
              <thead>
                <tr>
                  <th>Step</th>
                  <th className="num">Attempts</th>
                  <th className="num">Failures</th>
                  <th className="num">p50</th>
                  <th className="num">p95</th>
                </tr>
              </thead>
              <tbody>
                {data.steps.slice(0, 25).map((step) => (
                  <tr key={step.step_id}>
                    <td className="mono">{step.step_id}</td>
                    <td className="num">{step.attempts}</td>
                    <td className="num">{step.failures}</td>
                    <td className="num">{ms(step.duration_ms.p50)}</td>
                    <td className="num">{ms(step.duration_ms.p95)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {data.steps.length > 25 ? <p className="subtle small">and {data.steps.length - 25} more steps.</p> : null}
        </>
      ) : null}
    </section>
  );
}
