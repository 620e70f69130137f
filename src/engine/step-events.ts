import { nowIso } from '../ids.js';
import type { NewEvent } from '../store/repositories/execution-log-repository.js';
import type { ClaimedStep } from '../store/repositories/step-repository.js';

/** The `step.started` event of a claimed attempt; `worker` names an external worker. */
export function stepStartedEvent(step: ClaimedStep, worker?: string): NewEvent {
  return {
    workspaceId: step.workspace_id,
    executionId: step.execution_id,
    stepId: step.step_id,
    type: 'step.started',
    at: step.started_at ?? nowIso(),
    data: {
      execution_id: step.execution_id,
      workflow_id: step.workflow_id,
      step_id: step.step_id,
      status: 'running',
      attempt: step.attempts,
      ...(worker === undefined ? {} : { worker }),
    },
  };
}
