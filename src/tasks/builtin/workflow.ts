import { defineTask } from '../task-type.js';

/** `workflow`: runs another workflow as a child execution. */
export const workflowTask = defineTask({
  type: 'workflow',
  source: 'builtin',
  description: "Starts a child execution; its output is the step's output, its failure fails the step.",
  inputSchema: {
    type: 'object',
    required: ['workflow_id'],
    additionalProperties: false,
    properties: { workflow_id: { type: 'string', minLength: 1 }, version: { type: 'integer', minimum: 1 }, input: {} },
  },
});
