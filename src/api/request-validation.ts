import type { FastifySchemaCompiler } from 'fastify';
import { createAjv } from '../definition/json-schema.js';

/**
 * Request validation. Bodies are validated strictly (no type coercion, unknown fields rejected
 * rather than silently dropped); query strings, params and headers are coerced from text, with a
 * single query value accepted where a list is expected (`label=a:b` or repeated).
 */
const bodyAjv = createAjv({ coerceTypes: false, useDefaults: false });
const textAjv = createAjv({ coerceTypes: 'array', useDefaults: true });

/** The validator compiler of every route. */
export const compileRequestSchema: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : textAjv;
  return ajv.compile(schema as object);
};

/**
 * For routes whose body is a workflow definition: the body schema documents and types the route,
 * but the definition is validated in the handler, which also knows the workspace's task types
 * and reports structural and semantic errors together.
 */
export const compileDefinitionRouteSchema: FastifySchemaCompiler<unknown> = (route) =>
  route.httpPart === 'body' ? () => true : compileRequestSchema(route);
