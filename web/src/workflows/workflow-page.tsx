import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import type { Workflow } from '../../../src/sdk/types';
import { errorMessage, useClient } from '../api/weft-client';
import { DagView } from '../graph/dag-view';
import { JsonView } from '../ui/json-view';
import { Labels } from '../ui/labels';
import { QueryState } from '../ui/query-state';
import { formatTime } from '../ui/time';
import { EditWorkflowDialog } from './edit-workflow-dialog';
import { MetricsPanel } from './metrics-panel';
import { StartRunDialog } from './start-run-dialog';
import { TriggersPanel } from './triggers-panel';
import { usePlan } from './use-plan';
import { VersionsPanel } from './versions-panel';

type Step = { id: string; type: string } & Record<string, unknown>;

/** A workflow (SPEC §7): its DAG, versions and a diff, triggers, metrics; start a run; edit. */
export function WorkflowPage() {
  const { id = '' } = useParams();
  const client = useClient();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const selected = params.get('step');
  const [dialog, setDialog] = useState<'start' | 'edit' | null>(null);

  const workflow = useQuery({
    queryKey: ['workflows', id],
    queryFn: ({ signal }) => client.workflows.get(id, {}, { signal }),
  });
  const definition = workflow.data?.definition as Workflow['definition'] | undefined;
  const plan = usePlan([id, workflow.data?.version], definition as never);
  const toggle = useMutation({
    mutationFn: (enabled: boolean) => client.workflows.patch(id, { enabled }),
    onSuccess: (updated) => {
      queryClient.setQueryData(['workflows', id], updated);
      queryClient.invalidateQueries({ queryKey: ['workflows', 'list'] });
    },
  });

  const select = (stepId: string | null) => {
    const next = new URLSearchParams(params);
    if (stepId) next.set('step', stepId);
    else next.delete('step');
    setParams(next, { replace: true });
  };

  if (!workflow.data)
    return (
      <div className="page">
        <QueryState isLoading={workflow.isLoading} error={workflow.error} what="the workflow" />
      </div>
    );
  const data = workflow.data;
  const steps = ((data.definition as { steps?: Step[] }).steps ?? []) as Step[];
  const selectedStep = steps.find((step) => step.id === selected);

  return (
    <div className="page" data-workflow-id={data.id}>
      <div className="page-header">
        <div>
          <div className="subtle small">
            <Link to="/workflows">Workflows</Link> /
          </div>
          <h1>
            {data.name}{' '}
            <span className="subtle" style={{ fontWeight: 400 }}>
              v{data.version}
            </span>
          </h1>
          {data.description ? <div className="subtle">{data.description}</div> : null}
        </div>
        <div className="actions">
          <label className="row">
            <input type="checkbox" checked={data.enabled} onChange={(event) => toggle.mutate(event.target.checked)} />
            {data.enabled ? 'Enabled' : 'Disabled'}
          </label>
          <Link className="button" to={`/executions?workflow_id=${data.id}`}>
            Executions
          </Link>
          <button type="button" onClick={() => setDialog('edit')}>
            Edit definition
          </button>
          <button type="button" className="primary" onClick={() => setDialog('start')} disabled={!data.enabled}>
            Start run
          </button>
        </div>
      </div>
      {toggle.error ? <div className="banner">{errorMessage(toggle.error)}</div> : null}
      <div className="row small subtle">
        <Labels labels={data.labels} /> · updated {formatTime(data.updated_at)} · {steps.length} step
        {steps.length === 1 ? '' : 's'}
        {data.deleted_at ? (
          <strong style={{ color: 'var(--status-danger)' }}> · deleted {formatTime(data.deleted_at)}</strong>
        ) : null}
      </div>
      <section className="card" aria-label="Graph">
        <QueryState isLoading={plan.isLoading} error={plan.error} what="the graph" />
        {plan.data ? (
          <div className={selectedStep ? 'execution-body' : 'execution-body no-panel'} style={{ minHeight: 0 }}>
            <DagView plan={plan.data.steps} steps={steps} selected={selected} onSelect={select} />
            {selectedStep ? (
              <aside className="step-panel" aria-label={`Step ${selectedStep.id}`}>
                <div className="panel-header">
                  <h2 style={{ margin: 0 }}>{selectedStep.id}</h2>
                  <button
                    type="button"
                    className="ghost close"
                    aria-label="Close the step"
                    onClick={() => select(null)}
                  >
                    ✕
                  </button>
                </div>
                <p className="subtle mono">{selectedStep.type}</p>
                <h3>Definition</h3>
                <JsonView value={selectedStep} name={`${selectedStep.id}-definition`} />
                <h3>Depends on</h3>
                <p>
                  {plan.data.steps.find((step) => step.id === selectedStep.id)?.dependencies.join(', ') ||
                    'nothing (a root step)'}
                </p>
              </aside>
            ) : null}
          </div>
        ) : null}
      </section>
      <div className="grid-2">
        <MetricsPanel workflowId={data.id} />
        <TriggersPanel workflow={data} />
      </div>
      <VersionsPanel workflowId={data.id} latest={data.version} key={data.version} />
      {dialog === 'start' ? <StartRunDialog workflow={data} onClose={() => setDialog(null)} /> : null}
      {dialog === 'edit' ? <EditWorkflowDialog workflow={data} onClose={() => setDialog(null)} /> : null}
    </div>
  );
}
