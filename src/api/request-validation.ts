import type { ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import { createAjv, madeOnFirstUse } from '../definition/json-schema.js';

/**
 * Request validation. Bodies are validated strictly (no type coercion, unknown fields rejected
 * rather than silently dropped); query strings, params and headers are coerced from text, with a
 * single query value accepted where a list is expected (`label=a:b` or repeated).
 */
const bodyAjv = madeOnFirstUse(() => createAjv({ coerceTypes: false, useDefaults: false }));
const textAjv = madeOnFirstUse(() => createAjv({ coerceTypes: 'array', useDefaults: true }));

/** The range of an integer a request may carry unless its schema says less (32-bit signed). */
export const INTEGER_RANGE = { minimum: -(2 ** 31), maximum: 2 ** 31 - 1 } as const;

/** Keywords whose values are data, copied as they are. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples']);
/** Keywords whose values map names to schemas (a property may be called `default`). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);

/**
 * A copy of a request schema in which every `integer` without its own bounds gets
 * `INTEGER_RANGE`: integer columns are 32-bit on PostgreSQL, so `?version=99999999999999999999`
 * or `"version": 9007199254740993` is a 400 at the schema instead of a database error (and
 * `Infinity`, which Ajv counts as an integer, is out of range too). Route schemas should still
 * state realistic bounds; this only guarantees that none is unbounded.
 */
export function withIntegerBounds(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withIntegerBounds);
  if (schema === null || typeof schema !== 'object') return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DATA_KEYWORDS.has(key)) copy[key] = value;
    else if (SCHEMA_MAPS.has(key) && value !== null && typeof value === 'object') {
      copy[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, withIntegerBounds(sub)]));
    } else copy[key] = withIntegerBounds(value);
  }
  const type = copy.type;
  if (type === 'integer' || (Array.isArray(type) && type.includes('integer'))) {
    if (copy.maximum === undefined && copy.exclusiveMaximum === undefined) copy.maximum = INTEGER_RANGE.maximum;
    if (copy.minimum === undefined && copy.exclusiveMinimum === undefined) copy.minimum = INTEGER_RANGE.minimum;
  }
  return copy;
}

/**
 * Validators already compiled in this process, by Ajv instance and schema text. Every server a
 * process builds registers the same schemas again (route schemas are often built per
 * registration, so they are equal, not identical); the test suites build one per backend in most
 * files, and compiling was about a tenth of such a file's CPU.
 */
const compiledSchemas = new Map<ReturnType<typeof bodyAjv>, Map<string, ValidateFunction>>();

function compileShared(ajv: typeof bodyAjv, schema: object): ValidateFunction {
  const instance = ajv();
  let byText = compiledSchemas.get(instance);
  if (byText === undefined) {
    byText = new Map();
    compiledSchemas.set(instance, byText);
  }
  const text = JSON.stringify(schema);
  let compiled = byText.get(text);
  if (compiled === undefined) {
    compiled = instance.compile(schema);
    byText.set(text, compiled);
  }
  return compiled;
}

/** A validator that compiles its schema when it is first used; its `errors` are those of its last call. */
type LazyValidator = ((data: unknown) => boolean) & Pick<ValidateFunction, 'errors'>;

/**
 * Defers compiling `schema` to the first request that needs it. Compiling every route's schemas
 * took over a second of CPU at each start, most of it for routes a process never serves; every
 * process of a test suite or a crash loop paid it again.
 */
function compileLazily(ajv: typeof bodyAjv, schema: unknown): LazyValidator {
  // Copied now (cheap), so that the schema compiled later is the one registered.
  const bounded = withIntegerBounds(schema) as object;
  let compiled: ValidateFunction | undefined;
  const validate: LazyValidator = (data: unknown) => {
    compiled ??= compileShared(ajv, bounded);
    const valid = compiled(data) as boolean;
    validate.errors = compiled.errors;
    return valid;
  };
  return validate;
}

/**
 * A query-string schema that refuses parameters it does not name (`?stauts=failed` is a 400
 * naming `stauts`, not a list that ignores the filter), unless the schema says otherwise.
 */
export function strictQuery(schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object') return schema;
  const object = schema as Record<string, unknown>;
  if (object.type !== 'object' || object.additionalProperties !== undefined) return schema;
  return { ...object, additionalProperties: false };
}

/** The validator compiler of every route (each compiles on its route's first request). */
export const compileRequestSchema: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  httpPart === 'body'
    ? compileLazily(bodyAjv, schema)
    : compileLazily(textAjv, httpPart === 'querystring' ? strictQuery(schema) : schema);

/** A body validator for a schema that a handler applies itself (strict, like every body). */
export function compileBodySchema(schema: object): LazyValidator {
  return compileLazily(bodyAjv, schema);
}

/**
 * For routes whose body is a workflow definition: the body schema documents and types the route,
 * but the definition is validated in the handler, which also knows the workspace's task types
 * and reports structural and semantic errors together.
 */
export const compileDefinitionRouteSchema: FastifySchemaCompiler<unknown> = (route) =>
  route.httpPart === 'body' ? () => true : compileRequestSchema(route);
