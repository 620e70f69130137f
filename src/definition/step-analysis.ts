import type { FieldError } from '../errors.js';
import { ExpressionSyntaxError } from '../expressions/index.js';
import { isSecretName, SECRET_NAME_PATTERN, secretUse } from '../secrets/secret-references.js';
import {
  compileExpression,
  findTemplates,
  isTemplate,
  parseTemplate,
  type StepReference,
  stepReferences,
} from './templates.js';

/**
 * Reads the expressions of one step and derives its dependencies: explicit `depends_on`, template
 * references to `steps.X`, `input_mappings[].from_step`, and the previous step when the workflow
 * is `sequential`. Shared by validation and by the plan, so both always agree. It is defensive:
 * validation runs it on definitions that may be structurally invalid.
 */

/** A `steps.X` reference with the JSON Pointer of the string it was found in. */
export interface LocatedReference extends StepReference {
  pointer: string;
}

/** What one step's expressions say. */
export interface StepAnalysis {
  id: string | undefined;
  /** Every dependency, explicit and implicit, without duplicates, in first-seen order. */
  dependencies: string[];
  /** Template and expression references to other steps (for validation). */
  references: LocatedReference[];
  /** Template or expression syntax errors. */
  errors: FieldError[];
}

/** How a string field is read: always a template, or bare JSONata unless it holds `{{`. */
type ExpressionMode = 'template' | 'expression';

/** Where found references and errors go; `allowSecrets` for step inputs, the only place secrets may be read. */
interface ExpressionFindings {
  references: LocatedReference[];
  errors: FieldError[];
  allowSecrets?: boolean;
}

function describeSyntaxError(error: unknown): { message: string; offset: number } {
  if (error instanceof ExpressionSyntaxError) return { message: error.message, offset: error.offset };
  return { message: String(error), offset: 0 };
}

/** Compiles every expression in `value` and collects its step references and syntax errors. */
export function readExpressions(value: unknown, pointer: string, mode: ExpressionMode, into: ExpressionFindings): void {
  if (mode === 'expression' && typeof value === 'string' && !isTemplate(value)) {
    readOneExpression(value, pointer, 0, into);
    return;
  }
  for (const found of findTemplates(value, pointer)) {
    let parts: ReturnType<typeof parseTemplate>;
    try {
      parts = parseTemplate(found.template);
    } catch (error) {
      const { message, offset } = describeSyntaxError(error);
      into.errors.push({ path: found.pointer, message: `template syntax error at character ${offset}: ${message}` });
      continue;
    }
    for (const part of parts) {
      if (part.kind === 'expr') readOneExpression(part.source, found.pointer, part.offset, into);
    }
  }
}

function readOneExpression(source: string, pointer: string, offset: number, into: ExpressionFindings): void {
  try {
    const expression = compileExpression(source);
    for (const reference of stepReferences(expression)) into.references.push({ ...reference, pointer });
    checkSecretUse(expression, pointer, into);
  } catch (error) {
    const described = describeSyntaxError(error);
    into.errors.push({
      path: pointer,
      message: `expression syntax error at character ${offset + described.offset}: ${described.message}`,
    });
  }
}

/** Secrets are read by name, and only in step inputs (SPEC §2): they are never stored in views. */
function checkSecretUse(expression: ReturnType<typeof compileExpression>, pointer: string, into: ExpressionFindings) {
  const use = secretUse(expression);
  if (use.names.length === 0 && !use.dynamic) return;
  if (!into.allowSecrets) {
    into.errors.push({
      path: pointer,
      message: 'secrets are only available in step input (`input` and `fallback.input`), not here',
    });
    return;
  }
  if (use.dynamic) {
    into.errors.push({ path: pointer, message: 'name each secret as secrets.NAME (it cannot be listed or computed)' });
  }
  for (const name of use.names) {
    if (!isSecretName(name))
      into.errors.push({ path: pointer, message: `'${name}' is not a secret name (${SECRET_NAME_PATTERN})` });
  }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** Analyses step number `index`; `previousId` is the step before it (for `sequential`). */
export function analyzeStep(
  step: unknown,
  index: number,
  previousId: string | undefined,
  sequential: boolean,
): StepAnalysis {
  const record = asRecord(step) ?? {};
  const pointer = `/steps/${index}`;
  const id = typeof record.id === 'string' ? record.id : undefined;
  const found = { references: [] as LocatedReference[], errors: [] as FieldError[] };

  readExpressions(record.input, `${pointer}/input`, 'template', { ...found, allowSecrets: true });
  readExpressions(record.when, `${pointer}/when`, 'expression', found);
  readExpressions(record.for_each, `${pointer}/for_each`, 'template', found);
  const fallback = asRecord(record.fallback);
  if (fallback)
    readExpressions(fallback.input, `${pointer}/fallback/input`, 'template', { ...found, allowSecrets: true });

  const dependencies = new Set<string>();
  if (sequential && previousId !== undefined) dependencies.add(previousId);
  if (Array.isArray(record.depends_on)) {
    for (const target of record.depends_on) if (typeof target === 'string') dependencies.add(target);
  }
  if (Array.isArray(record.input_mappings)) {
    record.input_mappings.forEach((mapping, mappingIndex) => {
      const entry = asRecord(mapping);
      if (!entry) return;
      if (typeof entry.from_step === 'string') dependencies.add(entry.from_step);
      const transformPointer = `${pointer}/input_mappings/${mappingIndex}/transform`;
      if (typeof entry.transform === 'string') readExpressions(entry.transform, transformPointer, 'expression', found);
    });
  }
  for (const reference of found.references) dependencies.add(reference.step);
  return { id, dependencies: [...dependencies], references: found.references, errors: found.errors };
}

/** Analyses every step of a definition, in order. */
export function analyzeSteps(steps: unknown, sequential: boolean): StepAnalysis[] {
  if (!Array.isArray(steps)) return [];
  const analyses: StepAnalysis[] = [];
  let previousId: string | undefined;
  steps.forEach((step, index) => {
    const analysis = analyzeStep(step, index, previousId, sequential);
    analyses.push(analysis);
    previousId = analysis.id ?? previousId;
  });
  return analyses;
}
