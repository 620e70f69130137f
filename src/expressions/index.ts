/**
 * Expressions: the one door every JSONata expression goes through, compiled once (cached by text)
 * and evaluated under a time budget and a depth limit without blocking the event loop.
 */
export { type CompiledExpression, compileExpression, ExpressionSyntaxError } from './compile-expression.js';
export { evaluateBounded } from './evaluate-expression.js';
export {
  configureExpressionLimits,
  DEFAULT_EXPRESSION_LIMITS,
  ExpressionLimitError,
  type ExpressionLimitSettings,
  expressionLimits,
  MAX_PAD_LENGTH,
} from './expression-limits.js';
export { checkLinearPattern, LinearRegExp, linearPatternTester } from './linear-regexp.js';
