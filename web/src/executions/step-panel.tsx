import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import type { Execution } from '../../../src/sdk/types';
import { useClient } from '../api/weft-client';
import { itemSummary } from '../graph/build-graph';
import { JsonView } from '../ui/json-view';
import { StatusBadge } from '../ui/status-badge';
import { formatDuration, formatSpan, formatTime } from '../ui/time';
import { errorText } from './failure-summary';
import { ItemTable } from './item-table';
import { executionKeys } from './use-live-execution';

type Step = NonNullable<Execution['steps']>[number];

/** One step of an execution: status, times, worker, attempts, input, output, error, items. */
export function StepPanel(props: { execution: Execution; step: Step; onClose: () => void }) {
  const client = useClient();
  const { step, execution } = props;
  const timeline = useQuery({
    queryKey: executionKeys.timeline(execution.id),
    queryFn: ({ signal }) => client.executions.timeline(execution.id, { signal }),
  });
  const attempts = (timeline.data?.items ?? []).filter(
    (entry) => entry.step_id === step.step_id && entry.index === null,
  );
  const worker = [...attempts].reverse().find((entry) => entry.worker)?.worker ?? null;

  return (
    <aside className="step-panel" aria-label={`Step ${step.step_id}`} data-step-panel={step.step_id}>
      <div className="panel-header">
        <h2 style={{ margin: 0 }} className="mono">
          {step.step_id}
        </h2>
        <StatusBadge status={step.status} />
        <button type="button" className="ghost close" aria-label="Close the step" onClick={props.onClose}>
          ✕
        </button>
      </div>
      <dl className="kv" style={{ marginTop: 10 }}>
        <dt>Type</dt>
        <dd className="mono">{step.type}</dd>
        <dt>Attempts</dt>
        <dd>
          {step.attempts}
          {step.used_fallback ? ' (the fallback ran)' : ''}
        </dd>
        <dt>Started</dt>
        <dd>{formatTime(step.started_at)}</dd>
        <dt>Ended</dt>
        <dd>{formatTime(step.completed_at)}</dd>
        <dt>Took</dt>
        <dd>{formatSpan(step.started_at, step.completed_at)}</dd>
        <dt>Worker</dt>
        <dd className="mono">{worker ?? '—'}</dd>
        {step.skip_reason ? (
          <>
            <dt>Skipped</dt>
            <dd>
              {step.skip_reason === 'condition' ? 'its when condition was false' : 'a dependency did not complete'}
            </dd>
          </>
        ) : null}
        {step.child_execution_id ? (
          <>
            <dt>Child</dt>
            <dd>
              <Link to={`/executions/${step.child_execution_id}`} data-link="child">
                {step.child_execution_id} ↗
              </Link>
            </dd>
          </>
        ) : null}
        {step.waiting_for_signal ? (
          <>
            <dt>Waits for</dt>
            <dd>
              signal “{step.waiting_for_signal}” (<Link to="?tab=signals">send it</Link>)
            </dd>
          </>
        ) : null}
        {step.items ? (
          <>
            <dt>Items</dt>
            <dd>{itemSummary(step.items)}</dd>
          </>
        ) : null}
      </dl>
      {step.error ? (
        <>
          <h3>Error</h3>
          <div className="banner" data-step-error={step.step_id}>
            <pre className="mono" style={{ margin: 0 }}>
              {errorText(step.error)}
            </pre>
          </div>
        </>
      ) : null}
      {step.items ? (
        <>
          <h3>Items</h3>
          <ItemTable executionId={execution.id} stepId={step.step_id} live />
        </>
      ) : null}
      <h3>Input</h3>
      <JsonView value={step.input ?? null} name={`${step.step_id}-input`} label="input" />
      <h3>Output</h3>
      <JsonView value={step.output ?? null} name={`${step.step_id}-output`} label="output" />
      {attempts.length > 0 ? (
        <>
          <h3>Attempts</h3>
          <table className="list" style={{ fontSize: 12.5 }}>
            <thead>
              <tr>
                <th className="num">#</th>
                <th>Outcome</th>
                <th className="num">Took</th>
                <th>Error</th>
              </tr>
            </thead>
            <tbody>
              {attempts.map((entry) => (
                <tr key={`${entry.attempt}-${entry.used_fallback}`} data-attempt={entry.attempt}>
                  <td className="num">
                    {entry.attempt}
                    {entry.used_fallback ? ' ⤷' : ''}
                  </td>
                  <td>
                    <StatusBadge status={entry.status} />
                  </td>
                  <td className="num">{entry.duration_ms === null ? '—' : formatDuration(entry.duration_ms)}</td>
                  <td className="small" style={{ color: 'var(--status-danger)' }}>
                    {entry.error ? errorText(entry.error) : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </aside>
  );
}
