import { EXECUTION_STATUSES, STEP_STATUSES } from '../../../src/engine/states';
import type { Execution } from '../../../src/sdk/types';
import type { StreamMessage } from '../api/stream-message';

/**
 * Applies one stream event to the cached execution at once (a step's or the execution's status:
 * events are idempotent, they set a status and never count), so the graph recolours without
 * waiting for a refetch. Pure: unit-tested in apply-event.test.ts.
 */
export function applyEvent(execution: Execution, message: StreamMessage): Execution {
  const status = typeof message.data.status === 'string' ? message.data.status : undefined;
  if (!status) return execution;
  if (message.type.startsWith('workflow.')) return isExecutionStatus(status) ? { ...execution, status } : execution;
  const stepId = message.data.step_id;
  if (!message.type.startsWith('step.') || typeof stepId !== 'string' || message.data.index !== undefined)
    return execution;
  const stepStatus = message.type === 'step.retrying' ? 'queued' : status;
  if (!isStepStatus(stepStatus)) return execution;
  return {
    ...execution,
    steps: execution.steps?.map((step) =>
      step.step_id === stepId
        ? {
            ...step,
            status: stepStatus,
            ...(message.data.output !== undefined ? { output: message.data.output } : {}),
            ...(message.data.error !== undefined ? { error: message.data.error } : {}),
          }
        : step,
    ),
  };
}

/** Whether a status a stream event carries is an execution status (the API's enum). */
export function isExecutionStatus(status: string): status is Execution['status'] {
  return (EXECUTION_STATUSES as readonly string[]).includes(status);
}

/** Whether a status a stream event carries is a step status. */
function isStepStatus(status: string): status is NonNullable<Execution['steps']>[number]['status'] {
  return (STEP_STATUSES as readonly string[]).includes(status);
}
