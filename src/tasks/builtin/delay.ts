import { NonRetryableError, WaitUntil } from '../task-outcomes.js';
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
  handler: async (input) => {
    const { seconds, until } = input as { seconds?: number; until?: string };
    const at = until !== undefined ? new Date(until) : new Date(Date.now() + Number(seconds ?? 0) * 1000);
    if (Number.isNaN(at.getTime())) throw new NonRetryableError(`delay: '${String(until ?? seconds)}' is not a time`);
    return new WaitUntil(at, { until: at.toISOString() });
  },
});
