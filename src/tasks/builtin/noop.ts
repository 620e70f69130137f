import { defineTask } from '../task-type.js';

/** `noop`: returns its input as its output. Useful for joins, tests and benchmarks. */
export const noopTask = defineTask({
  type: 'noop',
  source: 'builtin',
  description: 'Returns its input unchanged.',
  handler: async (input) => input,
});
