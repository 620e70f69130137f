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
  if (message.type.startsWith('workflow.')) return { ...execution, status };
  const stepId = message.data.step_id;
  if (!message.type.startsWith('step.') || typeof stepId !== 'string' || message.data.index !== undefined)
    return execution;
  const stepStatus = message.type === 'step.retrying' ? 'queued' : status;
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
