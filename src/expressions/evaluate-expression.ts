import type { CompiledExpression } from './compile-expression.js';
import { compileExpression } from './compile-expression.js';
import { beginEvaluation, limitErrorOf } from './expression-limits.js';

/**
 * Evaluates an expression (source text or compiled) over `input` under the process's limits.
 * A limit exceeded throws ExpressionLimitError; any other failure is JSONata's own error.
 */
export async function evaluateBounded(
  expression: string | CompiledExpression,
  input: unknown,
  bindings?: Record<string, unknown>,
): Promise<unknown> {
  const compiled = typeof expression === 'string' ? compileExpression(expression) : expression;
  const end = beginEvaluation();
  try {
    return await compiled.evaluate(input, bindings);
  } catch (error) {
    throw limitErrorOf(error) ?? error;
  } finally {
    end();
  }
}
