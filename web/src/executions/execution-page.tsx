import { useQuery } from '@tanstack/react-query';
import { Link, useParams, useSearchParams } from 'react-router';
import type { Execution } from '../../../src/sdk/types';
import { liveLabel } from '../api/live-stream';
import { useClient } from '../api/weft-client';
import { DagView } from '../graph/dag-view';
import { TimelineView } from '../timeline/timeline-view';
import { JsonView } from '../ui/json-view';
import { Labels } from '../ui/labels';
import { QueryState } from '../ui/query-state';
import { StatusBadge } from '../ui/status-badge';
import { formatSpan, formatTime } from '../ui/time';
import { ArtifactsPanel } from './artifacts-panel';
import { EventLog } from './event-log';
import { ExecutionActions } from './execution-actions';
import { failureSummary } from './failure-summary';
import { SignalsPanel } from './signals-panel';
import { StepPanel } from './step-panel';
import { useLiveExecution } from './use-live-execution';

const TABS = [
  ['graph', 'Graph'],
  ['timeline', 'Timeline'],
  ['events', 'Events'],
  ['artifacts', 'Artifacts'],
  ['signals', 'Signals'],
  ['data', 'Input & output'],
] as const;
type Tab = (typeof TABS)[number][0];

function FailureBanner(props: { execution: Execution; onSelect: (stepId: string) => void }) {
  const failure = failureSummary(props.execution);
  if (!failure) return null;
  return (
    <div className="banner" role="alert" data-banner="failure">
      <strong>Failed</strong>
      {failure.stepId ? (
        <>
          {' '}
          at step{' '}
          <button type="button" className="link mono" onClick={() => failure.stepId && props.onSelect(failure.stepId)}>
            {failure.stepId}
          </button>
          {failure.attempts ? (
            <span className="subtle">
              {' '}
              after {failure.attempts} attempt{failure.attempts === 1 ? '' : 's'}
            </span>
          ) : null}
        </>
      ) : null}
      {failure.code ? (
        <span className="label-chip" style={{ marginLeft: 8 }}>
          {failure.code}
        </span>
      ) : null}
      <pre className="mono">{failure.message}</pre>
    </div>
  );
}

/** Steps that wait for a signal, named, with the way to send one. */
function WaitingBanner(props: { execution: Execution; onSend: () => void }) {
  const waiting = (props.execution.steps ?? []).filter((step) => step.waiting_for_signal);
  if (waiting.length === 0 || props.execution.status !== 'running') return null;
  return (
    <div className="banner info" data-banner="waiting">
      {waiting.slice(0, 3).map((step) => (
        <span key={step.step_id}>
          Step <span className="mono">{step.step_id}</span> waits for signal{' '}
          <strong className="mono">{step.waiting_for_signal}</strong>.{' '}
        </span>
      ))}
      {waiting.length > 3 ? <span>and {waiting.length - 3} more. </span> : null}
      <button type="button" className="link" onClick={props.onSend}>
        Send a signal
      </button>
    </div>
  );
}

/**
 * An execution (SPEC §7): the failure banner, the live DAG, the timeline, a step panel, the event
 * log, artifacts, signals, and its actions; the tab and the selected step are in the URL.
 */
export function ExecutionPage() {
  const { id = '' } = useParams();
  const client = useClient();
  const [params, setParams] = useSearchParams();
  const tab = (TABS.some(([key]) => key === params.get('tab')) ? params.get('tab') : 'graph') as Tab;
  const selected = params.get('step');
  const { execution, mode } = useLiveExecution(id);
  const definition = useQuery({
    queryKey: ['executions', id, 'definition'],
    queryFn: ({ signal }) => client.executions.definition(id, { signal }),
    staleTime: Number.POSITIVE_INFINITY,
  });

  const setParam = (name: string, value: string | null) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: name === 'step' });
  };

  if (!execution.data)
    return (
      <div className="page">
        <QueryState isLoading={execution.isLoading} error={execution.error} what="the execution" />
      </div>
    );
  const data = execution.data;
  const steps = data.steps ?? [];
  const live = liveLabel(mode);
  const selectedStep = steps.find((step) => step.step_id === selected) ?? null;
  const definitionSteps =
    (definition.data?.definition as { steps?: Array<{ id: string; type: string }> } | undefined)?.steps ?? [];

  return (
    <div className="page" data-execution-id={data.id} data-execution-status={data.status} style={{ paddingBottom: 0 }}>
      <div className="page-header">
        <div>
          <div className="subtle small">
            <Link to="/executions">Executions</Link> /{' '}
            {data.workflow_id ? (
              <Link to={`/workflows/${data.workflow_id}`}>{data.workflow_name ?? data.workflow_id}</Link>
            ) : (
              'ad-hoc'
            )}
            {data.workflow_version ? ` v${data.workflow_version}` : ''}
          </div>
          <h1 className="row">
            <span className="mono" style={{ fontSize: 17 }}>
              {data.id}
            </span>
            <StatusBadge status={data.status} pill />
          </h1>
        </div>
        <span className="small subtle" data-live={mode}>
          <span className={`live-dot${live.on ? '' : ' off'}`} />
          {live.text}
        </span>
        <div className="actions">
          <ExecutionActions execution={data} stepIds={steps.map((step) => step.step_id)} />
        </div>
      </div>
      <div className="row small subtle">
        <span>created {formatTime(data.created_at)}</span>·
        <span>duration {formatSpan(data.started_at, data.completed_at)}</span>·
        <span>
          {data.progress.completed}/{data.progress.total} steps completed
        </span>
        {data.reference ? (
          <>
            · <span>ref {data.reference}</span>
          </>
        ) : null}
        {data.concurrency_key !== null ? (
          <>
            ·{' '}
            <span>
              key “{data.concurrency_key}”{data.queue_position ? `, #${data.queue_position} in line` : ''}
            </span>
          </>
        ) : null}
        <Labels labels={data.labels} emptyText="" />
        {data.parent_execution_id ? (
          <span data-link="parent">
            · child of{' '}
            <Link
              to={`/executions/${data.parent_execution_id}${data.parent_step_id ? `?step=${encodeURIComponent(data.parent_step_id)}` : ''}`}
            >
              {data.parent_execution_id}
            </Link>
            {data.parent_step_id ? <> (step {data.parent_step_id})</> : null}
          </span>
        ) : null}
      </div>
      <FailureBanner execution={data} onSelect={(stepId) => setParam('step', stepId)} />
      <WaitingBanner execution={data} onSend={() => setParam('tab', 'signals')} />
      <div className="card" style={{ display: 'flex', flexDirection: 'column', minHeight: 0 }}>
        <div className="tabs" role="tablist" aria-label="Execution views">
          {TABS.map(([key, label]) => (
            <button
              key={key}
              type="button"
              role="tab"
              aria-selected={tab === key}
              onClick={() => setParam('tab', key === 'graph' ? null : key)}
            >
              {label}
            </button>
          ))}
        </div>
        <div className={selectedStep ? 'execution-body' : 'execution-body no-panel'}>
          <div className="execution-main">
            {tab === 'graph' ? (
              <>
                <QueryState isLoading={definition.isLoading} error={definition.error} what="the graph" />
                {definition.data ? (
                  <DagView
                    className="tall"
                    plan={definition.data.plan.steps}
                    steps={definitionSteps}
                    states={steps}
                    selected={selected}
                    onSelect={(stepId) => setParam('step', stepId)}
                  />
                ) : null}
              </>
            ) : null}
            {tab === 'timeline' ? (
              <TimelineView
                executionId={data.id}
                execution={data}
                order={definitionSteps.map((step) => step.id)}
                selected={selected}
                onSelect={(stepId) => setParam('step', stepId)}
                polling={mode === 'polling'}
              />
            ) : null}
            {tab === 'events' ? (
              <EventLog executionId={data.id} onSelect={(stepId) => setParam('step', stepId)} />
            ) : null}
            {tab === 'artifacts' ? <ArtifactsPanel executionId={data.id} /> : null}
            {tab === 'signals' ? <SignalsPanel execution={data} /> : null}
            {tab === 'data' ? (
              <div className="grid-2" style={{ padding: 14 }}>
                <div>
                  <h3>Input</h3>
                  <JsonView value={data.input} name={`${data.id}-input`} label="input" />
                </div>
                <div>
                  <h3>Output</h3>
                  <JsonView value={data.output} name={`${data.id}-output`} label="output" />
                  {data.error ? (
                    <>
                      <h3>Error</h3>
                      <JsonView value={data.error} name={`${data.id}-error`} label="error" />
                    </>
                  ) : null}
                </div>
              </div>
            ) : null}
          </div>
          {selectedStep ? (
            <StepPanel execution={data} step={selectedStep} onClose={() => setParam('step', null)} />
          ) : null}
        </div>
      </div>
    </div>
  );
}
