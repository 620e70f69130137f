import type { FieldError } from '../errors.js';
import { compileExpression, ExpressionSyntaxError } from '../expressions/index.js';
import { isTemplate } from './templates.js';

/**
 * What validation can tell of a `transform` step before it runs. Its `expression` is compiled
 * only when the step runs, so a literal one is compiled here: a syntax error is a validation
 * error at its path. And the expression reads its `data` as `$`: a path such as `data` in
 * `data * 2` looks up a field named `data` in it, finds nothing and yields null. When `data` is
 * a literal, a path that starts with a field it cannot have is a warning.
 *
 * The warning is only given when it cannot be wrong: the expression and `data` are both literal
 * (no template, not set by `input_mappings`), and the field is read against the data itself
 * (the first name of a path evaluated at the top: in operators, conditions, blocks, function
 * arguments, array and object constructors; not inside predicates, later path steps or lambdas,
 * whose context is something else).
 */

/** What a transform's input says at validation: errors and warnings, with JSON Pointer paths. */
export interface TransformFindings {
  errors: FieldError[];
  warnings: FieldError[];
}

type Json = Record<string, unknown>;
type AstNode = { type?: string; value?: unknown; [key: string]: unknown };

const isRecord = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const asNode = (value: unknown): AstNode | undefined => (isRecord(value) ? (value as AstNode) : undefined);

/** The nodes of a list (object constructors hold `[key, value]` pairs: both are read). */
function nodes(value: unknown): AstNode[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item): AstNode[] => {
    if (Array.isArray(item)) return nodes(item);
    const node = asNode(item);
    return node ? [node] : [];
  });
}

/** The names of the fields an expression reads from its input itself (`$`), in order. */
export function fieldsReadFromInput(ast: unknown): string[] {
  const found = new Set<string>();
  const visit = (node: AstNode | undefined): void => {
    if (!node) return;
    switch (node.type) {
      case 'path': {
        const steps = nodes(node.steps);
        const first = steps[0];
        // `name…`, or `$.name…` / `$$.name…` (at the top `$` and `$$` are both the input).
        const named =
          first?.type === 'variable' && (first.value === '' || first.value === '$') && !('stages' in first)
            ? steps[1]
            : first;
        if (named?.type === 'name' && typeof named.value === 'string') found.add(named.value);
        return;
      }
      case 'binary':
      case 'apply':
        visit(asNode(node.lhs));
        visit(asNode(node.rhs));
        return;
      case 'condition':
        visit(asNode(node.condition));
        visit(asNode(node.then));
        visit(asNode(node.else));
        return;
      case 'block':
        for (const child of nodes(node.expressions)) visit(child);
        return;
      case 'bind':
        visit(asNode(node.rhs));
        return;
      case 'function':
      case 'partial':
        for (const child of nodes(node.arguments)) visit(child);
        return;
      case 'unary':
        if (node.value === '-') visit(asNode(node.expression));
        else if (node.value === '[') for (const child of nodes(node.expressions)) visit(child);
        else if (node.value === '{') for (const child of nodes(node.lhs)) visit(child);
        return;
      default:
        // Lambdas, literals, variables, wildcards, descendants, transforms: nothing read from `$` by name.
        return;
    }
  };
  visit(asNode(ast));
  return [...found];
}

/** Whether a field named `name` may exist in `data` at run time (an array is looked into, item by item). */
function mayHaveField(data: unknown, name: string): boolean {
  if (typeof data === 'string') return isTemplate(data);
  if (Array.isArray(data)) return data.some((item) => mayHaveField(item, name));
  return isRecord(data) && Object.hasOwn(data, name);
}

function describe(data: unknown): string {
  if (data === undefined) return 'not given (null)';
  if (Array.isArray(data)) return 'an array whose items lack it';
  if (isRecord(data)) {
    const fields = Object.keys(data);
    return fields.length === 0 ? 'an empty object' : `an object with ${fields.slice(0, 10).join(', ')}`;
  }
  return data === null ? 'null' : `a ${typeof data} (${JSON.stringify(data).slice(0, 40)})`;
}

/**
 * Checks the input of a `transform` step (or fallback) found at `pointer`; `mappedFields` are the
 * top-level input fields that `input_mappings` set at run time.
 */
export function checkTransformInput(
  input: unknown,
  pointer: string,
  mappedFields: ReadonlySet<string>,
): TransformFindings {
  const findings: TransformFindings = { errors: [], warnings: [] };
  if (!isRecord(input) || mappedFields.has('expression')) return findings;
  const { expression } = input;
  // A template expression is checked with the other templates, and known only when rendered.
  if (typeof expression !== 'string' || expression === '' || isTemplate(expression)) return findings;
  const at = `${pointer}/expression`;
  let ast: unknown;
  try {
    ast = compileExpression(expression).ast();
  } catch (error) {
    if (!(error instanceof ExpressionSyntaxError)) throw error;
    findings.errors.push({
      path: at,
      message: `expression syntax error at character ${error.offset}: ${error.message}`,
    });
    return findings;
  }
  if (mappedFields.has('data')) return findings;
  const data = input.data;
  for (const name of fieldsReadFromInput(ast)) {
    if (mayHaveField(data, name)) continue;
    findings.warnings.push({
      path: at,
      message:
        `'${name}' is not a field of input.data, which is ${describe(data)}, so it finds nothing: ` +
        `in the expression the data is $ (write $ for the whole value, $.${name} or ${name} for a field of it)`,
    });
  }
  return findings;
}
