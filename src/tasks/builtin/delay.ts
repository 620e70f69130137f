import { defineTask } from '../task-type.js';

/** `delay`: a durable timer; the step waits in the database and holds no worker. */
export const delayTask = defineTask({
  type: 'delay',
  source: 'builtin',
  description: 'Waits `seconds` or `until` an ISO time, durably.',
  inputSchema: {
    type: 'object',
    additionalProperties: false,
    anyOf: [{ required: ['seconds'] }, { required: ['until'] }],
    properties: { seconds: { type: 'number', minimum: 0 }, until: { type: 'string', format: 'date-time' } },
  },
  outputSchema: { type: 'object', additionalProperties: false, properties: { until: { type: 'string' } } },
});
