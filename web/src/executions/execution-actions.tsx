import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { Execution } from '../../../src/sdk/types';
import { errorMessage, useClient } from '../api/weft-client';
import { Dialog } from '../ui/dialog';
import { executionActions, isTerminalExecution } from '../ui/status';
import { executionKeys } from './use-live-execution';

type Action = 'start' | 'pause' | 'resume' | 'cancel' | 'retry' | 'cleanup';

const LABELS: Record<Action, string> = {
  start: 'Start',
  pause: 'Pause',
  resume: 'Resume',
  cancel: 'Cancel',
  retry: 'Retry…',
  cleanup: 'Clean up…',
};

/**
 * The lifecycle actions an execution's status allows (the server's transition table), plus retry
 * from a chosen step and clean-up. A 409 (someone else changed it first) is shown, not thrown.
 */
export function ExecutionActions(props: { execution: Execution; stepIds: readonly string[] }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const { execution } = props;
  const [dialog, setDialog] = useState<'retry' | 'cleanup' | null>(null);
  const [fromStep, setFromStep] = useState('');
  const [deleteArtifacts, setDeleteArtifacts] = useState(false);

  const run = useMutation({
    mutationFn: async (action: Action): Promise<unknown> => {
      switch (action) {
        case 'start':
          return client.executions.run(execution.id);
        case 'pause':
          return client.executions.pause(execution.id);
        case 'resume':
          return client.executions.resume(execution.id);
        case 'cancel':
          return client.executions.cancel(execution.id);
        case 'retry':
          return client.executions.retry(execution.id, fromStep ? { from_step: fromStep } : {});
        case 'cleanup':
          return client.executions.cleanup(execution.id, { delete_artifacts: deleteArtifacts });
      }
    },
    onSuccess: (result, action) => {
      setDialog(null);
      if (action !== 'cleanup' && result && typeof result === 'object' && 'status' in result) {
        queryClient.setQueryData(executionKeys.execution(execution.id), result);
      }
      queryClient.invalidateQueries({ queryKey: ['executions'] });
    },
  });

  const allowed: Action[] = [...executionActions(execution.status)];
  if (isTerminalExecution(execution.status) && !execution.deleted_at) allowed.push('cleanup');
  const order: Action[] = ['start', 'pause', 'resume', 'retry', 'cancel', 'cleanup'];

  return (
    <>
      {run.error && !dialog ? (
        <span className="form-error small" role="alert">
          {errorMessage(run.error)}
        </span>
      ) : null}
      {order
        .filter((action) => allowed.includes(action))
        .map((action) => (
          <button
            key={action}
            type="button"
            data-action={action}
            className={
              action === 'cancel' ? 'danger' : action === 'resume' || action === 'start' ? 'primary' : undefined
            }
            disabled={run.isPending}
            onClick={() => (action === 'retry' || action === 'cleanup' ? setDialog(action) : run.mutate(action))}
          >
            {LABELS[action]}
          </button>
        ))}
      {dialog === 'retry' ? (
        <Dialog title="Retry the execution" onClose={() => setDialog(null)}>
          <p className="subtle">
            Without a step, the failed and cancelled steps run again and completed ones keep their output. From a step,
            that step and everything downstream of it run again.
          </p>
          <div className="field">
            <label htmlFor="from_step">From step</label>
            <select
              id="from_step"
              name="from_step"
              value={fromStep}
              onChange={(event) => setFromStep(event.target.value)}
            >
              <option value="">the failed steps</option>
              {props.stepIds.map((stepId) => (
                <option key={stepId} value={stepId}>
                  {stepId}
                </option>
              ))}
            </select>
          </div>
          {run.error ? <p className="form-error">{errorMessage(run.error)}</p> : null}
          <div className="footer">
            <button type="button" onClick={() => setDialog(null)}>
              Cancel
            </button>
            <button type="button" className="primary" disabled={run.isPending} onClick={() => run.mutate('retry')}>
              Retry
            </button>
          </div>
        </Dialog>
      ) : null}
      {dialog === 'cleanup' ? (
        <Dialog title="Clean up the execution" onClose={() => setDialog(null)}>
          <p>The execution is hidden from lists (a soft delete): its record stays readable by id.</p>
          <label className="row">
            <input
              type="checkbox"
              checked={deleteArtifacts}
              onChange={(event) => setDeleteArtifacts(event.target.checked)}
            />
            Also delete its artifact files
          </label>
          {run.error ? <p className="form-error">{errorMessage(run.error)}</p> : null}
          <div className="footer">
            <button type="button" onClick={() => setDialog(null)}>
              Cancel
            </button>
            <button type="button" className="danger" disabled={run.isPending} onClick={() => run.mutate('cleanup')}>
              Clean up
            </button>
          </div>
        </Dialog>
      ) : null}
    </>
  );
}
