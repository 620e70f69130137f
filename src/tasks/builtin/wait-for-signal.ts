import { defineTask } from '../task-type.js';

/** `wait_for_signal`: waits for data posted to `/executions/{id}/signals/{signal}`. */
export const waitForSignalTask = defineTask({
  type: 'wait_for_signal',
  source: 'builtin',
  description: 'Waits until a signal of that name is posted to the execution; its data is the output.',
  inputSchema: {
    type: 'object',
    required: ['signal'],
    additionalProperties: false,
    properties: { signal: { type: 'string', minLength: 1 }, timeout_seconds: { type: 'number', exclusiveMinimum: 0 } },
  },
});
