import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FieldError } from '../errors.js';
import { pointerSegment } from './templates.js';

/**
 * JSON Schema support (Ajv, draft 2020-12): one configured Ajv factory, compilation of users'
 * schemas with precise errors, and the translation of Ajv errors to Weft's `{path, message}`.
 */

// ajv-formats is CommonJS; under NodeNext its default import is the module object at type level.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (
  ajv: Ajv2020,
) => Ajv2020;

/** A new Ajv instance: all errors, formats, no coercion, no removal of unknown fields. */
export function createAjv(options: { coerceTypes?: boolean | 'array'; useDefaults?: boolean } = {}): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    strict: false,
    coerceTypes: options.coerceTypes ?? false,
    useDefaults: options.useDefaults ?? false,
    removeAdditional: false,
    validateFormats: true,
  });
  addFormats(ajv);
  return ajv;
}

function quoteList(values: unknown): string {
  return Array.isArray(values) ? values.map((value) => JSON.stringify(value)).join(', ') : String(values);
}

/** Turns one Ajv error into a readable `{path, message}`; `base` prefixes the path. */
export function describeAjvError(error: ErrorObject, base = ''): FieldError {
  const params = error.params as Record<string, unknown>;
  const path = `${base}${error.instancePath}`;
  switch (error.keyword) {
    case 'additionalProperties':
      return {
        path: `${path}/${pointerSegment(String(params.additionalProperty))}`,
        message: `unknown field '${String(params.additionalProperty)}'`,
      };
    case 'required':
      return {
        path: `${path}/${pointerSegment(String(params.missingProperty))}`,
        message: `required field '${String(params.missingProperty)}' is missing`,
      };
    case 'enum':
      return { path, message: `must be one of ${quoteList(params.allowedValues)}` };
    case 'type':
      return { path, message: `must be ${String(params.type).replaceAll(',', ' or ')}` };
    default:
      return { path, message: error.message ?? `fails '${error.keyword}'` };
  }
}

/** Translates Ajv errors, dropping the summary errors that only repeat their branches. */
export function describeAjvErrors(errors: ErrorObject[] | null | undefined, base = ''): FieldError[] {
  if (!errors) return [];
  // A failed anyOf/oneOf also reports every branch at the same path; keep only the first branch.
  const unionPaths = new Set(
    errors.filter((error) => error.keyword === 'anyOf' || error.keyword === 'oneOf').map((error) => error.instancePath),
  );
  const reportedUnionPaths = new Set<string>();
  const described: FieldError[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (error.keyword === 'if') continue;
    if (unionPaths.has(error.instancePath)) {
      if (reportedUnionPaths.has(error.instancePath)) continue;
      reportedUnionPaths.add(error.instancePath);
    }
    const item = describeAjvError(error, base);
    const key = `${item.path}\u0000${item.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    described.push(item);
  }
  return described;
}

const userSchemaAjv = createAjv();

/**
 * Checks a user-supplied JSON Schema (2020-12) and compiles it. Returns the validator, or the
 * errors with paths under `base` (meta-schema violations and compile failures such as bad `$ref`).
 */
export function compileUserSchema(
  schema: unknown,
  base: string,
): { validate: ValidateFunction; errors: [] } | { validate: undefined; errors: FieldError[] } {
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    return { validate: undefined, errors: [{ path: base, message: 'must be a JSON Schema object or boolean' }] };
  }
  const metaValid = userSchemaAjv.validateSchema(schema as object);
  if (!metaValid) {
    const errors = describeAjvErrors(userSchemaAjv.errors, base);
    return {
      validate: undefined,
      errors: errors.length > 0 ? errors : [{ path: base, message: 'invalid JSON Schema' }],
    };
  }
  try {
    // $id would register the schema globally in this Ajv instance; compile a copy without it.
    const copy = typeof schema === 'object' ? { ...(schema as Record<string, unknown>) } : schema;
    if (typeof copy === 'object') delete copy.$id;
    const validate = userSchemaAjv.compile(copy);
    // Ajv caches every compiled schema by object; drop it so repeated validations do not grow memory.
    userSchemaAjv.removeSchema(copy);
    return { validate, errors: [] };
  } catch (error) {
    return {
      validate: undefined,
      errors: [{ path: base, message: `invalid JSON Schema: ${(error as Error).message}` }],
    };
  }
}

const inputAjv = createAjv({ useDefaults: true });
const inputValidators = new Map<string, ValidateFunction>();

/**
 * The validator of an execution input for a workflow's `input_schema` (already checked at
 * definition time). Defaults in the schema are filled in. Cached by the schema's text.
 */
export function compileInputSchema(schema: unknown): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = inputValidators.get(key);
  if (!validate) {
    const copy = typeof schema === 'object' && schema !== null ? { ...(schema as Record<string, unknown>) } : schema;
    if (typeof copy === 'object' && copy !== null) delete (copy as Record<string, unknown>).$id;
    validate = inputAjv.compile(copy as object);
    if (inputValidators.size >= 1000) {
      const oldest = inputValidators.keys().next().value;
      if (oldest !== undefined) inputValidators.delete(oldest);
    }
    inputValidators.set(key, validate);
  }
  return validate;
}
