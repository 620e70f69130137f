import { evaluateExpression } from '../../definition/render.js';
import { NonRetryableError } from '../task-outcomes.js';
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
  handler: async (input) => {
    const { expression, data } = input as { expression: string; data?: unknown };
    try {
      const result = await evaluateExpression(expression, (data ?? null) as Record<string, unknown>);
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    } catch (error) {
      // A wrong expression or data fails the same way on every attempt.
      const code = error instanceof NonRetryableError ? error.code : undefined;
      throw new NonRetryableError(`transform failed: ${(error as Error).message}`, { cause: error, code });
    }
  },
});
