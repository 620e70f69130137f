/**
 * The OpenAPI document names its shared shapes. Route schemas are TypeBox objects inlined in each
 * route (one schema validates, types and documents a route); a schema with a `title` (Workflow,
 * Execution, Problem, …) is the same shape wherever it appears. This moves each titled schema into
 * `components.schemas` once and refers to it, so `/openapi.json`, the docs page and the SDK types
 * generated from it show `Workflow` instead of the same fields repeated in every route. Error
 * answers, all the same problem+json per status, are shared the same way.
 */

type Json = unknown;
type JsonObject = Record<string, Json>;

const isObject = (value: Json): value is JsonObject =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** `Problem (RFC 9457)` → `Problem`, `Task type` → `TaskType`. */
export function componentName(title: string): string {
  const base = title.replace(/\s*\(.*\)\s*$/, '');
  return base
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word !== '')
    .map((word) => word[0]?.toUpperCase() + word.slice(1))
    .join('');
}

/** Whether an object is a JSON Schema that carries a title (not, say, the document's `info`). */
function isTitledSchema(value: JsonObject): boolean {
  return (
    typeof value.title === 'string' &&
    ('type' in value || 'properties' in value || 'anyOf' in value || 'oneOf' in value || 'allOf' in value)
  );
}

/**
 * Returns the document with every titled schema under `paths` replaced by a `$ref` to
 * `components.schemas`. Nested titled schemas are shared first. Two different schemas with one
 * title keep the second inline (a name never means two shapes).
 */
export function shareNamedSchemas<T extends JsonObject>(document: T): T {
  const components = isObject(document.components) ? document.components : {};
  const schemas: JsonObject = isObject(components.schemas) ? { ...components.schemas } : {};
  const responses: JsonObject = isObject(components.responses) ? { ...components.responses } : {};
  const texts = new Map<string, string>();

  /** An error answer (a problem+json of the shared `Problem`) becomes `components.responses.ErrorNNN`. */
  const shareErrorResponse = (status: string, response: Json): Json => {
    if (!/^[45]\d\d$/.test(status) || !isObject(response) || !JSON.stringify(response).includes('/Problem"')) {
      return response;
    }
    const name = `Error${status}`;
    const text = JSON.stringify(response);
    const known = texts.get(`responses/${name}`);
    if (known !== undefined && known !== text) return response;
    texts.set(`responses/${name}`, text);
    responses[name] = response;
    return { $ref: `#/components/responses/${name}` };
  };

  const visit = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(visit);
    if (!isObject(value)) return value;
    const copy: JsonObject = {};
    for (const [key, child] of Object.entries(value)) copy[key] = visit(child);
    if (isObject(copy.responses)) {
      const shared: JsonObject = {};
      for (const [status, response] of Object.entries(copy.responses))
        shared[status] = shareErrorResponse(status, response);
      copy.responses = shared;
    }
    if (!isTitledSchema(copy)) return copy;
    const name = componentName(String(copy.title));
    if (name === '') return copy;
    const text = JSON.stringify(copy);
    const known = texts.get(name);
    if (known !== undefined && known !== text) return copy;
    texts.set(name, text);
    schemas[name] = copy;
    return { $ref: `#/components/schemas/${name}` };
  };

  return { ...document, paths: visit(document.paths), components: { ...components, schemas, responses } };
}
