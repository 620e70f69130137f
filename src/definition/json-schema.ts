import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { SchemaValidateFunction } from 'ajv/dist/types/index.js';
import addFormatsModule from 'ajv-formats';
import type { FieldError } from '../errors.js';
import { linearPatternTester } from '../expressions/index.js';
import { pointerSegment } from './templates.js';

/**
 * JSON Schema support (Ajv, draft 2020-12): one configured Ajv factory, compilation of users'
 * schemas with precise errors, and the translation of Ajv errors to Weft's `{path, message}`.
 */

// ajv-formats is CommonJS; under NodeNext its default import is the module object at type level.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (
  ajv: Ajv2020,
) => Ajv2020;

/** Options of createAjv. */
export interface AjvOptions {
  coerceTypes?: boolean | 'array';
  useDefaults?: boolean;
  /**
   * For users' schemas: `pattern`/`patternProperties` match in linear time (RE2JS) and
   * `uniqueItems` hashes its items instead of comparing every pair.
   */
  userSchemas?: boolean;
}

/**
 * A value made on first use: an Ajv instance compiles its meta-schemas when made (about 25 ms
 * each), and a server start should not pay for validators no request has needed yet.
 */
export function madeOnFirstUse<T>(make: () => T): () => T {
  let made: T | undefined;
  return () => {
    made ??= make();
    return made;
  };
}

/** A new Ajv instance: all errors, formats, no coercion, no removal of unknown fields. */
export function createAjv(options: AjvOptions = {}): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    strict: false,
    coerceTypes: options.coerceTypes ?? false,
    useDefaults: options.useDefaults ?? false,
    removeAdditional: false,
    validateFormats: true,
    ...(options.userSchemas ? { code: { regExp: linearPatternTester } } : {}),
  });
  addFormats(ajv);
  if (options.userSchemas) {
    ajv.removeKeyword('uniqueItems');
    ajv.addKeyword({
      keyword: 'uniqueItems',
      type: 'array',
      schemaType: 'boolean',
      errors: true,
      validate: uniqueItems,
    });
  }
  return ajv;
}

/** A JSON text of a value with sorted keys: equal JSON values (SPEC's sense) get equal texts. */
function canonicalText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalText((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * `uniqueItems` in linear time: Ajv's own compares every pair of object items (20,000 objects
 * took 75 s); this keys each item by its canonical text.
 */
const uniqueItems: SchemaValidateFunction = (schema: unknown, data: unknown) => {
  if (schema !== true || !Array.isArray(data)) return true;
  const seen = new Map<string, number>();
  for (let index = 0; index < data.length; index += 1) {
    const key = canonicalText(data[index]);
    const first = seen.get(key);
    if (first !== undefined) {
      uniqueItems.errors = [
        {
          keyword: 'uniqueItems',
          message: `must NOT have duplicate items (items ## ${first} and ${index} are identical)`,
          params: { i: index, j: first },
        },
      ];
      return false;
    }
    seen.set(key, index);
  }
  return true;
};

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
        message: `unknown ${base === 'query' ? 'query parameter' : 'field'} '${String(params.additionalProperty)}'`,
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

/** Largest `input_schema` (or task-type schema), as JSON text. */
export const MAX_SCHEMA_BYTES = 32 * 1024;
/**
 * Largest schema weight (subschemas, plus 4 per pattern): compiling a schema is synchronous and
 * costs about 0.1 ms per subschema and 0.2 ms per pattern here, so this keeps it under ~50 ms.
 */
export const MAX_SCHEMA_WEIGHT = 400;

/** The only dialect users' schemas may name in `$schema` (with or without the empty fragment). */
const DIALECT = 'https://json-schema.org/draft/2020-12/schema';

/** Keywords whose values are data, not subschemas: not walked. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples']);

/** What a schema is made of, for its limits and its validation cost. */
interface SchemaShape {
  subschemas: number;
  patterns: number;
  /** JSON Pointers (under the schema) of `$schema` values that name another dialect. */
  foreignDialects: string[];
}

function shapeOf(schema: unknown): SchemaShape {
  const shape: SchemaShape = { subschemas: 0, patterns: 0, foreignDialects: [] };
  const walk = (node: unknown, pointer: string): void => {
    if (Array.isArray(node)) {
      node.forEach((child, index) => {
        walk(child, `${pointer}/${index}`);
      });
      return;
    }
    if (node === null || typeof node !== 'object') return;
    shape.subschemas += 1;
    for (const [key, value] of Object.entries(node)) {
      const at = `${pointer}/${pointerSegment(key)}`;
      if (DATA_KEYWORDS.has(key)) continue;
      if (key === '$schema' && value !== DIALECT && value !== `${DIALECT}#`) shape.foreignDialects.push(at);
      if (key === 'pattern' && typeof value === 'string') shape.patterns += 1;
      if (key === 'patternProperties' && value !== null && typeof value === 'object') {
        shape.patterns += Object.keys(value).length;
      }
      if (typeof value === 'object') walk(value, at);
    }
  };
  walk(schema, '');
  return shape;
}

/** A schema's compile weight: subschemas, plus 4 per pattern. */
function compileWeight(shape: SchemaShape): number {
  return shape.subschemas + 4 * shape.patterns;
}

/** The limits of users' schemas: size, weight and dialect. Errors have paths under `base`. */
function checkSchemaLimits(schema: unknown, base: string): FieldError[] {
  const bytes = Buffer.byteLength(JSON.stringify(schema));
  if (bytes > MAX_SCHEMA_BYTES) {
    return [{ path: base, message: `the schema is ${bytes} bytes of JSON; at most ${MAX_SCHEMA_BYTES} are allowed` }];
  }
  const shape = shapeOf(schema);
  const errors: FieldError[] = shape.foreignDialects.map((pointer) => ({
    path: `${base}${pointer}`,
    message: `only JSON Schema 2020-12 is supported: '$schema' may only be '${DIALECT}'`,
  }));
  const weight = compileWeight(shape);
  if (weight > MAX_SCHEMA_WEIGHT) {
    errors.push({
      path: base,
      message: `the schema is too complex: ${shape.subschemas} subschemas and ${shape.patterns} patterns weigh ${weight} (subschemas + 4 per pattern); at most ${MAX_SCHEMA_WEIGHT} is allowed`,
    });
  }
  return errors;
}

const userSchemaAjv = madeOnFirstUse(() => createAjv({ userSchemas: true }));

/**
 * Checks a user-supplied JSON Schema (2020-12) and compiles it. Returns the validator, or the
 * errors with paths under `base` (limits, meta-schema violations and compile failures such as a
 * bad `$ref` or a pattern that cannot run in linear time).
 */
export function compileUserSchema(
  schema: unknown,
  base: string,
): { validate: ValidateFunction; errors: [] } | { validate: undefined; errors: FieldError[] } {
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    return { validate: undefined, errors: [{ path: base, message: 'must be a JSON Schema object or boolean' }] };
  }
  const limits = checkSchemaLimits(schema, base);
  if (limits.length > 0) return { validate: undefined, errors: limits };
  const metaValid = userSchemaAjv().validateSchema(schema as object);
  if (!metaValid) {
    const errors = describeAjvErrors(userSchemaAjv().errors, base);
    return {
      validate: undefined,
      errors: errors.length > 0 ? errors : [{ path: base, message: 'invalid JSON Schema' }],
    };
  }
  try {
    // $id would register the schema globally in this Ajv instance; compile a copy without it.
    const copy = typeof schema === 'object' ? { ...(schema as Record<string, unknown>) } : schema;
    if (typeof copy === 'object') delete copy.$id;
    const validate = userSchemaAjv().compile(copy);
    // Ajv caches every compiled schema by object; drop it so repeated validations do not grow memory.
    userSchemaAjv().removeSchema(copy);
    return { validate, errors: [] };
  } catch (error) {
    return {
      validate: undefined,
      errors: [{ path: base, message: `invalid JSON Schema: ${(error as Error).message}` }],
    };
  }
}

const inputAjv = madeOnFirstUse(() => createAjv({ useDefaults: true, userSchemas: true }));
const inputValidators = new Map<string, { validate: ValidateFunction; weight: number }>();

function inputValidatorOf(schema: unknown): { validate: ValidateFunction; weight: number } {
  const key = JSON.stringify(schema);
  let entry = inputValidators.get(key);
  if (!entry) {
    const copy = typeof schema === 'object' && schema !== null ? { ...(schema as Record<string, unknown>) } : schema;
    if (typeof copy === 'object' && copy !== null) delete (copy as Record<string, unknown>).$id;
    const shape = shapeOf(schema);
    // Each pattern test costs about ten times a plain keyword's check.
    entry = { validate: inputAjv().compile(copy as object), weight: shape.subschemas + 10 * shape.patterns };
    if (inputValidators.size >= 1000) {
      const oldest = inputValidators.keys().next().value;
      if (oldest !== undefined) inputValidators.delete(oldest);
    }
    inputValidators.set(key, entry);
  }
  return entry;
}

/**
 * The validator of an execution input for a workflow's `input_schema` (already checked at
 * definition time). Defaults in the schema are filled in. Cached by the schema's text.
 */
export function compileInputSchema(schema: unknown): ValidateFunction {
  return inputValidatorOf(schema).validate;
}

/** Values in a JSON value, long strings counting once per 100 characters. */
function valueCount(value: unknown): number {
  if (typeof value === 'string') return 1 + Math.floor(value.length / 100);
  if (Array.isArray(value)) {
    let count = 1;
    for (const item of value) count += valueCount(item);
    return count;
  }
  if (value !== null && typeof value === 'object') {
    let count = 1;
    for (const item of Object.values(value)) count += valueCount(item);
    return count;
  }
  return 1;
}

/**
 * About how much validating `input` against `schema` costs: the input's values times the schema's
 * weight (one unit is about 30 ns at worst on this machine; see input-validation.ts).
 */
export function inputValidationCost(schema: unknown, input: unknown): number {
  return valueCount(input) * inputValidatorOf(schema).weight;
}
