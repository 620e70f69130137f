import { evaluateBounded } from '../expressions/index.js';
import { isRawTemplate, isTemplate, parseTemplate } from './templates.js';

/**
 * Evaluation of templates (SPEC §2) against an execution's context. Expressions come from the
 * compile cache, so each is parsed once per process however many executions use it, and run under
 * the expression limits (src/expressions/).
 */

/** What templates can read. */
export interface TemplateContext {
  input: unknown;
  steps: Record<string, { output: unknown; status: string; error: unknown; attempts: number }>;
  execution: { id: string; workflow_id: string | null; version: number | null; labels: Record<string, string> };
  item?: unknown;
  index?: number;
  /** The secrets a step input reads (`secrets.NAME`), set only while rendering an attempt's input. */
  secrets?: Record<string, string>;
}

/** JSONata marks sequences with extra properties; a JSON round trip leaves plain data. */
function toPlain(value: unknown): unknown {
  if (value === undefined) return null;
  if (value === null || typeof value !== 'object') return value;
  return JSON.parse(JSON.stringify(value));
}

function asText(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Evaluates one expression against the context, under the expression limits. */
export async function evaluateExpression(source: string, context: unknown): Promise<unknown> {
  return evaluateBounded(source, context);
}

/** Renders one template string: a raw value for `{{ x }}` alone, text otherwise. */
export async function renderString(template: string, context: TemplateContext): Promise<unknown> {
  if (!isTemplate(template)) return template;
  const parts = parseTemplate(template);
  if (isRawTemplate(parts)) {
    const only = parts.find((part) => part.kind === 'expr');
    return only?.kind === 'expr' ? toPlain(await evaluateExpression(only.source, context)) : null;
  }
  let text = '';
  for (const part of parts) {
    text += part.kind === 'text' ? part.text : asText(toPlain(await evaluateExpression(part.source, context)));
  }
  return text;
}

/** Renders every template in a JSON value, recursively. Values without templates come back as they are. */
export async function renderValue(value: unknown, context: TemplateContext): Promise<unknown> {
  if (typeof value === 'string') return renderString(value, context);
  if (Array.isArray(value)) {
    const rendered: unknown[] = [];
    for (const item of value) rendered.push(await renderValue(item, context));
    return rendered;
  }
  if (value !== null && typeof value === 'object') {
    const rendered: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) rendered[key] = await renderValue(child, context);
    return rendered;
  }
  return value;
}

/** JSONata-style truthiness of a `when` result: false, null, 0, '', [] and {} are false. */
export function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

/** Reads a dotted path (`a.b.0.c`) from a value; undefined when any part is missing. */
export function getPath(value: unknown, path: string | undefined): unknown {
  if (path === undefined || path === '') return value;
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Writes a dotted path into an object, creating intermediate objects. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  if (keys.some((key) => key === '__proto__' || key === 'constructor' || key === 'prototype')) {
    throw new Error(`'${path}' may not name __proto__, constructor or prototype`);
  }
  let current = target;
  for (const key of keys.slice(0, -1)) {
    const next = current[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) current[key] = {};
    current = current[key] as Record<string, unknown>;
  }
  current[keys[keys.length - 1] ?? path] = value;
}
