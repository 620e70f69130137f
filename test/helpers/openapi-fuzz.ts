import fc from 'fast-check';

/**
 * Bad requests generated from the OpenAPI document, for test/api.fuzz.test.ts: every operation
 * gets a plausible request (its baseline) and then mutations of it, one change at a time, so
 * each mutation reaches as far into the route as the change lets it: wrong types, NUL bytes and
 * unpaired surrogates, integers beyond any column, deep nesting, long strings, unknown fields,
 * bad path ids and query values, missing and non-object bodies, plus random JSON from a seed.
 */

/** A JSON Schema as the document holds it (loosely typed: it is data here). */
type Schema = Record<string, unknown>;

/** One operation of the document. */
export interface Operation {
  method: string;
  /** The path template, `/api/v1/workflows/{id}`. */
  path: string;
  parameters: Array<{ name: string; in: string; schema: Schema }>;
  body: Schema | undefined;
}

/** One request to send: a target (path and query, already encoded), headers and a raw body. */
export interface FuzzRequest {
  method: string;
  /** The operation's path template. */
  path: string;
  target: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** What was changed, for failure messages. */
  mutation: string;
}

/** What the baseline requests are made of: real ids and known good bodies. */
export interface FuzzContext {
  /** A real value for a path parameter of this path template, or undefined for `x`. */
  pathValue(path: string, name: string): string | undefined;
  /** A known good body for an operation, or undefined to derive one from the schema. */
  knownBody(operation: Operation): unknown;
  /** The seed of the random values. */
  seed: number;
}

/** Resolves `$ref`s to `#/components/schemas/...`. */
function resolver(document: Schema): (schema: unknown) => Schema {
  const components = ((document.components as Schema | undefined)?.schemas ?? {}) as Record<string, Schema>;
  return (schema) => {
    let current = (schema ?? {}) as Schema;
    for (let hops = 0; typeof current.$ref === 'string' && hops < 10; hops += 1) {
      current = components[current.$ref.replace('#/components/schemas/', '')] ?? {};
    }
    return current;
  };
}

/** Every operation of the document, DELETEs and clean-ups last (they remove what others use). */
export function operationsOf(document: Schema): { operations: Operation[]; resolve: (schema: unknown) => Schema } {
  const resolve = resolver(document);
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, Schema>>)) {
    for (const [method, operation] of Object.entries(item)) {
      const content = (operation.requestBody as Schema | undefined)?.content as Record<string, Schema> | undefined;
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: ((operation.parameters ?? []) as Array<{ name: string; in: string; schema: Schema }>).map(
          (parameter) => ({ ...parameter, schema: resolve(parameter.schema) }),
        ),
        body: content?.['application/json'] ? resolve(content['application/json'].schema) : undefined,
      });
    }
  }
  const destructive = (operation: Operation) => operation.method === 'DELETE' || operation.path.endsWith('/cleanup');
  operations.sort((a, b) => Number(destructive(a)) - Number(destructive(b)));
  return { operations, resolve };
}

/** A value the schema accepts as far as a simple reading of it goes. */
function exampleOf(schema: Schema, resolve: (schema: unknown) => Schema, depth = 0): unknown {
  const resolved = resolve(schema);
  if (resolved.default !== undefined) return resolved.default;
  if (Array.isArray(resolved.enum)) return resolved.enum[0];
  if (resolved.const !== undefined) return resolved.const;
  const union = (resolved.anyOf ?? resolved.oneOf) as Schema[] | undefined;
  if (union?.[0]) return exampleOf(union[0], resolve, depth + 1);
  const type = Array.isArray(resolved.type) ? resolved.type[0] : resolved.type;
  switch (type) {
    case 'string':
      return resolved.format === 'uri' ? 'https://example.com/fuzz' : 'fuzz';
    case 'integer':
    case 'number':
      return typeof resolved.minimum === 'number' ? resolved.minimum : 1;
    case 'boolean':
      return true;
    case 'array':
      return depth > 4 ? [] : [exampleOf((resolved.items ?? {}) as Schema, resolve, depth + 1)];
    case 'object': {
      const properties = (resolved.properties ?? {}) as Record<string, Schema>;
      const required = (resolved.required ?? []) as string[];
      return Object.fromEntries(required.map((name) => [name, exampleOf(properties[name] ?? {}, resolve, depth + 1)]));
    }
    default:
      return {};
  }
}

/** A value of another JSON type than the schema's. */
function wrongTypeOf(schema: Schema): unknown {
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'string') return 12345;
  if (type === 'integer' || type === 'number') return '12';
  if (type === 'boolean') return 'true';
  if (type === 'array') return { not: 'an array' };
  if (type === 'object') return 'not an object';
  return undefined;
}

/** `levels` arrays nested in each other, as text (JSON.stringify would recurse that deep). */
function deepText(levels: number): string {
  return `${'['.repeat(levels)}1${']'.repeat(levels)}`;
}

const RAW_MARK = '__fuzz_raw__';

/** A body serialised with the placeholder `RAW_MARK` replaced by raw JSON text. */
function withRaw(body: Record<string, unknown>, name: string, raw: string): string {
  return JSON.stringify({ ...body, [name]: RAW_MARK }).replace(`"${RAW_MARK}"`, raw);
}

/** Random JSON values (from the run's seed) each body property is tried with. */
const RANDOM_VALUES = 5;

/**
 * Any text of 1 to 30 code points: what `fc.string({ unit: 'binary' })` generates (every code
 * point but the surrogates, which are no text and which `encodeURIComponent` refuses), built from
 * code points instead. That arbitrary tokenises fast-check's list of
 * dangerous strings over a table of all 1.1 million code points when it is made, 1.3 s of CPU in
 * every fuzz process (the test files run without V8's optimising compiler); shrinking, which needs
 * the table, is of no use here (values are only sampled).
 */
const SURROGATES = 0xe000 - 0xd800;
const ANY_TEXT = fc
  .array(fc.integer({ min: 0, max: 0x10ffff - SURROGATES }), { minLength: 1, maxLength: 30 })
  .map((codePoints) => String.fromCodePoint(...codePoints.map((code) => (code >= 0xd800 ? code + SURROGATES : code))));

/** Any JSON value up to 3 deep, made once: making one took about 18 ms. */
const ANY_JSON = fc.jsonValue({ maxDepth: 3 });

/** Random text (any code point) from the run's seed, percent-encoded for a path or a query. */
function randomTexts(seed: number, count: number): string[] {
  return fc.sample(ANY_TEXT, { seed, numRuns: count }).map((text) => encodeURIComponent(text));
}

/** Values every body property is tried with, beyond its wrong type. */
function propertyValues(seed: number, index: number): Array<[string, { value?: unknown; raw?: string }]> {
  const random = fc.sample(ANY_JSON, { seed: seed + index, numRuns: RANDOM_VALUES });
  return [
    ['NUL', { value: 'a\u0000b' }],
    ['NUL in a key', { value: { 'k\u0000': 'v' } }],
    ['lone surrogate', { value: '\ud800' }],
    ['huge integer', { raw: '99999999999999999999' }],
    ['2^53 + 1', { raw: '9007199254740993' }],
    ['1e400', { raw: '1e400' }],
    ['negative', { value: -1 }],
    ['fraction', { value: 0.5 }],
    ['null', { value: null }],
    ['100 deep', { raw: deepText(100) }],
    ['long string', { value: 'x'.repeat(200_000) }],
    ...random.map((value, at): [string, { value: unknown }] => [`random ${at}`, { value }]),
  ];
}

/** `value` with every string (`onString`) and number (`onNumber`) inside it replaced. */
function mapLeaves(value: unknown, onString: (text: string) => unknown, onNumber: (n: number) => unknown): unknown {
  if (typeof value === 'string') return onString(value);
  if (typeof value === 'number') return onNumber(value);
  if (Array.isArray(value)) return value.map((item) => mapLeaves(item, onString, onNumber));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapLeaves(item, onString, onNumber)]));
}

/** Path parameter values that must never be a 5xx. */
const BAD_IDS = ['%ff', 'x%00', '%ED%A0%80', 'x'.repeat(1001), '%F0%9F%98%80', '..%2F..', "a'b", '%20', 'null'];
/** Query values that must never be a 5xx. */
const BAD_QUERY_VALUES = ['abc', '%00', '99999999999999999999', '-1', '1e400', '', '%ff', 'x'.repeat(5000), 'a:b'];

/** The baseline request of `operation` and its mutations. */
export function requestsOf(operation: Operation, resolve: (schema: unknown) => Schema, context: FuzzContext) {
  const requests: FuzzRequest[] = [];
  const json = { 'content-type': 'application/json' };
  const pathParameters = operation.parameters.filter((parameter) => parameter.in === 'path');
  const queryParameters = operation.parameters.filter((parameter) => parameter.in === 'query');
  const headerParameters = operation.parameters.filter((parameter) => parameter.in === 'header');
  const pathWith = (overrides: Record<string, string> = {}) =>
    pathParameters.reduce(
      (path, { name }) =>
        path.replace(
          `{${name}}`,
          overrides[name] ?? encodeURIComponent(context.pathValue(operation.path, name) ?? 'x'),
        ),
      operation.path,
    );
  const known = context.knownBody(operation);
  const baseline = operation.body ? (known ?? exampleOf(operation.body, resolve)) : undefined;
  const baseBody = baseline === undefined ? undefined : JSON.stringify(baseline);
  const add = (mutation: string, change: Partial<FuzzRequest>) =>
    requests.push({
      method: operation.method,
      path: operation.path,
      target: pathWith(),
      headers: baseBody === undefined ? {} : json,
      body: baseBody,
      mutation,
      ...change,
    });

  add('baseline', {});
  for (const { name } of pathParameters) {
    for (const id of [...BAD_IDS, ...randomTexts(context.seed, 3)])
      add(`path ${name}=${id.slice(0, 20)}`, { target: pathWith({ [name]: id }) });
  }
  for (const { name, schema } of queryParameters) {
    const values = [...BAD_QUERY_VALUES, ...randomTexts(context.seed + 1, 3)];
    const wrong = wrongTypeOf(schema);
    if (wrong !== undefined) values.push(String(wrong));
    for (const value of values) {
      add(`query ${name}=${value.slice(0, 20)}`, { target: `${pathWith()}?${name}=${value}` });
    }
    add(`query ${name} twice`, { target: `${pathWith()}?${name}=1&${name}=2` });
  }
  for (const { name } of headerParameters) {
    for (const value of ['', 'k'.repeat(300), '\u00ff\u00fe'])
      add(`header ${name}`, { headers: { ...json, [name]: value } });
  }
  if (!operation.body) {
    // The tests' client, like fetch, sends no GET with a body (helpers/http-client.ts).
    if (operation.method !== 'GET') add('unexpected body', { headers: json, body: '{"unexpected":1}' });
    return requests;
  }
  add('missing body', { body: undefined });
  add('missing body, no type', { body: undefined, headers: {} });
  for (const raw of ['[]', '"text"', 'null', '1', '{', deepText(5000)]) add(`body ${raw.slice(0, 10)}`, { body: raw });
  add('text/plain body', { headers: { 'content-type': 'text/plain' } });
  const base = (
    baseline !== null && typeof baseline === 'object' && !Array.isArray(baseline) ? baseline : {}
  ) as Record<string, unknown>;
  add('unknown field', { body: JSON.stringify({ ...base, __fuzz_unknown: 1 }) });
  const properties = (operation.body.properties ?? {}) as Record<string, Schema>;
  for (const [name, value] of Object.entries(base)) {
    add(`without ${name}`, { body: JSON.stringify({ ...base, [name]: undefined }) });
    if (value === null || typeof value !== 'object') continue;
    // Inside a nested value (a definition's steps, a task's error), every leaf at once.
    const same = (leaf: unknown) => leaf;
    for (const [label, inner] of [
      ['NUL in every string', mapLeaves(value, (text) => `${text}\u0000`, same)],
      ['surrogate in every string', mapLeaves(value, (text) => `\udc00${text}`, same)],
      ['huge numbers', mapLeaves(value, same, () => 2 ** 53 + 2)],
      ['numbers as strings', mapLeaves(value, same, String)],
      ['strings as numbers', mapLeaves(value, () => 7, same)],
    ] as const) {
      add(`${name}: ${label}`, { body: JSON.stringify({ ...base, [name]: inner }) });
    }
  }
  Object.entries(properties).forEach(([name, property], index) => {
    const wrong = wrongTypeOf(resolve(property));
    if (wrong !== undefined) add(`${name} wrong type`, { body: JSON.stringify({ ...base, [name]: wrong }) });
    for (const [label, { value, raw }] of propertyValues(context.seed, index)) {
      // A valid long-poll wait would only make the fuzz slow.
      const safe = name === 'wait_seconds' && typeof value === 'number' && value >= 0 ? 0 : value;
      const body = raw === undefined ? JSON.stringify({ ...base, [name]: safe }) : withRaw(base, name, raw);
      add(`${name} ${label}`, { body });
    }
  });
  return requests;
}
