import { defineTask } from '../task-type.js';

/** `transform`: evaluates a JSONata expression over `data`. */
export const transformTask = defineTask({
  type: 'transform',
  source: 'builtin',
  description: 'Evaluates the JSONata `expression` over `data`; the result is the output.',
  inputSchema: {
    type: 'object',
    required: ['expression'],
    additionalProperties: false,
    properties: { expression: { type: 'string', minLength: 1 }, data: {} },
  },
});
