import jsonata from 'jsonata';
import { boundedPad, JSONATA_OPTIONS, yieldToEventLoop } from './expression-limits.js';
import { checkLinearPattern } from './linear-regexp.js';

/**
 * Compiling JSONata expressions: the one place that builds them, so every expression carries the
 * limits of expression-limits.ts and the linear-time regex engine.
 */

/** A compiled JSONata expression. */
export type CompiledExpression = jsonata.Expression;

/** An expression that does not compile, with the character offset of the problem. */
export class ExpressionSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'ExpressionSyntaxError';
  }
}

/** A JSONata error as jsonata throws it. */
interface JsonataError {
  message: string;
  position?: number;
}

/**
 * Compiled expressions by source text. Building a JSONata expression parses it and sets up its
 * function environment, which costs far more than evaluating it, and definitions repeat the same
 * expressions across steps and versions. Cached expressions are shared: evaluate them with
 * per-call bindings, never with `assign()`.
 */
const compiledCache = new Map<string, CompiledExpression | ExpressionSyntaxError>();
const COMPILED_CACHE_SIZE = 10_000;

/** Compiles a JSONata expression (cached); throws ExpressionSyntaxError with the position on failure. */
export function compileExpression(source: string): CompiledExpression {
  let entry = compiledCache.get(source);
  if (entry === undefined) {
    entry = compileUncached(source);
    if (compiledCache.size >= COMPILED_CACHE_SIZE) {
      const oldest = compiledCache.keys().next().value;
      if (oldest !== undefined) compiledCache.delete(oldest);
    }
    compiledCache.set(source, entry);
  }
  if (entry instanceof ExpressionSyntaxError) throw entry;
  return entry;
}

const EVALUATE_ENTRY = Symbol.for('jsonata.__evaluate_entry');

function compileUncached(source: string): CompiledExpression | ExpressionSyntaxError {
  let expression: CompiledExpression;
  try {
    expression = jsonata(source, JSONATA_OPTIONS);
  } catch (error) {
    const failure = error as JsonataError;
    // The parser recurses: absurd nesting ends in a RangeError, which is a syntax problem too.
    const message = typeof failure.message === 'string' ? failure.message : String(error);
    return new ExpressionSyntaxError(
      `JSONata: ${message}`,
      typeof failure.position === 'number' ? failure.position : 0,
    );
  }
  const unsupported = findNonLinearRegex(expression.ast());
  if (unsupported) return new ExpressionSyntaxError(`JSONata: ${unsupported.reason}`, unsupported.position);
  // The environment these bind into is the expression's own, shared by its evaluations (the same
  // hook and function for all of them).
  expression.assign(EVALUATE_ENTRY as unknown as string, yieldToEventLoop);
  expression.registerFunction('pad', boundedPad, '<s-ns?:s>');
  return expression;
}

type AstNode = { type?: string; value?: unknown; position?: number; [key: string]: unknown };

/** The first regex literal of an AST that the linear-time engine cannot run. */
function findNonLinearRegex(node: unknown): { reason: string; position: number } | undefined {
  if (Array.isArray(node)) {
    for (const child of node) {
      const found = findNonLinearRegex(child);
      if (found) return found;
    }
    return undefined;
  }
  if (node === null || typeof node !== 'object') return undefined;
  const ast = node as AstNode;
  if (ast.type === 'regex' && ast.value instanceof RegExp) {
    const reason = checkLinearPattern(ast.value);
    if (reason) return { reason, position: typeof ast.position === 'number' ? ast.position : 0 };
  }
  for (const [key, child] of Object.entries(ast)) {
    if (key === 'value' || typeof child !== 'object') continue;
    const found = findNonLinearRegex(child);
    if (found) return found;
  }
  return undefined;
}
