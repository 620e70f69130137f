import { type CompiledExpression, ExpressionSyntaxError } from '../expressions/index.js';

export { type CompiledExpression, compileExpression } from '../expressions/index.js';

/**
 * Templates (SPEC §2): strings holding `{{ expr }}` where `expr` is JSONata. This module parses
 * templates, compiles their expressions and finds the `steps.X` references that become implicit
 * dependencies. It evaluates nothing; the engine does, with expressions compiled once per version.
 */

/** A piece of a parsed template string. */
export type TemplatePart = { kind: 'text'; text: string } | { kind: 'expr'; source: string; offset: number };

/** A template's syntax error, with the character offset in the template string. */
export class TemplateSyntaxError extends ExpressionSyntaxError {}

/** True when the string holds at least one `{{`. */
export function isTemplate(value: string): boolean {
  return value.includes('{{');
}

/**
 * Finds where the expression opened at `start` (just after `{{`) ends: the first `}}` outside
 * string literals, backtick names, comments and nested braces, so `{{ {"a": {"b": 1}} }}` works.
 */
function findExpressionEnd(text: string, start: number): number {
  let depth = 0;
  let index = start;
  while (index < text.length) {
    const char = text[index];
    if (char === '"' || char === "'" || char === '`') {
      const close = findClosingQuote(text, index);
      if (close < 0) throw new TemplateSyntaxError(`unterminated ${char === '`' ? 'name' : 'string'}`, index);
      index = close + 1;
      continue;
    }
    if (char === '/' && text[index + 1] === '*') {
      const close = text.indexOf('*/', index + 2);
      if (close < 0) throw new TemplateSyntaxError('unterminated comment', index);
      index = close + 2;
      continue;
    }
    if (char === '{') depth += 1;
    else if (char === '}') {
      if (depth === 0 && text[index + 1] === '}') return index;
      if (depth > 0) depth -= 1;
    }
    index += 1;
  }
  throw new TemplateSyntaxError("'{{' is not closed by '}}'", start - 2);
}

function findClosingQuote(text: string, open: number): number {
  const quote = text[open];
  for (let index = open + 1; index < text.length; index += 1) {
    if (text[index] === '\\' && quote !== '`') index += 1;
    else if (text[index] === quote) return index;
  }
  return -1;
}

/** Splits a template string into text and expression parts; throws TemplateSyntaxError. */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let cursor = 0;
  while (cursor < template.length) {
    const open = template.indexOf('{{', cursor);
    if (open < 0) break;
    if (open > cursor) parts.push({ kind: 'text', text: template.slice(cursor, open) });
    const end = findExpressionEnd(template, open + 2);
    const source = template.slice(open + 2, end);
    if (source.trim() === '') throw new TemplateSyntaxError('empty expression {{ }}', open);
    parts.push({ kind: 'expr', source, offset: open + 2 });
    cursor = end + 2;
  }
  if (cursor < template.length) parts.push({ kind: 'text', text: template.slice(cursor) });
  return parts;
}

/** True when the template is exactly one `{{ expr }}` (surrounding blanks allowed): it yields a raw value. */
export function isRawTemplate(parts: TemplatePart[]): boolean {
  const meaningful = parts.filter((part) => part.kind === 'expr' || part.text.trim() !== '');
  return meaningful.length === 1 && meaningful[0]?.kind === 'expr';
}

/** A reference to another step found in an expression: `steps.<step>.<field>.<subfield>`. */
export interface StepReference {
  step: string;
  field: string | undefined;
  subfield: string | undefined;
}

type AstNode = { type?: string; value?: unknown; steps?: AstNode[]; [key: string]: unknown };

function nameAt(steps: AstNode[], index: number): string | undefined {
  const node = steps[index];
  return node?.type === 'name' && typeof node.value === 'string' ? node.value : undefined;
}

function collectReferences(node: unknown, found: StepReference[]): void {
  if (Array.isArray(node)) {
    for (const child of node) collectReferences(child, found);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const ast = node as AstNode;
  if (ast.type === 'path' && Array.isArray(ast.steps)) {
    // `steps.X` at the start of a path, or right after the root variable `$$`.
    const first = ast.steps[0];
    const base = first?.type === 'variable' && first.value === '$' ? 1 : 0;
    if (nameAt(ast.steps, base) === 'steps') {
      const step = nameAt(ast.steps, base + 1);
      if (step !== undefined) {
        found.push({ step, field: nameAt(ast.steps, base + 2), subfield: nameAt(ast.steps, base + 3) });
      }
    }
  }
  for (const [key, child] of Object.entries(ast)) {
    if (key !== 'position' && key !== 'value' && typeof child === 'object') collectReferences(child, found);
  }
}

const referenceCache = new WeakMap<CompiledExpression, readonly StepReference[]>();

/** Lists the `steps.X` references of a compiled expression, in order of appearance. */
export function stepReferences(expression: CompiledExpression): readonly StepReference[] {
  let found = referenceCache.get(expression);
  if (!found) {
    const collected: StepReference[] = [];
    collectReferences(expression.ast(), collected);
    found = Object.freeze(collected);
    referenceCache.set(expression, found);
  }
  return found;
}

/** A template string found inside a JSON value, with its JSON Pointer. */
export interface FoundTemplate {
  pointer: string;
  template: string;
}

/** Escapes one JSON Pointer segment (RFC 6901). */
export function pointerSegment(segment: string | number): string {
  return String(segment).replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Walks a JSON value and yields every template string in it (recursively through objects and arrays). */
export function* findTemplates(value: unknown, pointer: string): Generator<FoundTemplate> {
  if (typeof value === 'string') {
    if (isTemplate(value)) yield { pointer, template: value };
  } else if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index += 1) {
      yield* findTemplates(value[index], `${pointer}/${index}`);
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) yield* findTemplates(child, `${pointer}/${pointerSegment(key)}`);
  }
}
