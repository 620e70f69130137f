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
    properties: {
      // A signal name is a path segment of POST /executions/{id}/signals/{name}: the step-id pattern.
      signal: { type: 'string', minLength: 1, pattern: '^[A-Za-z][A-Za-z0-9_-]{0,63}$' },
      timeout_seconds: { type: 'number', exclusiveMinimum: 0 },
    },
  },
});
