import type { ErrorObject } from 'ajv';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeAjvErrors } from '../definition/json-schema.js';
import { toProblem, validationFailed, WeftError } from '../errors.js';
import { RouteMethods } from './route-methods.js';

/**
 * Turns every error into RFC 9457 problem+json. Routes throw WeftErrors; Fastify's own errors
 * (schema validation, body limit, bad JSON, media type) and driver errors are mapped here to
 * registered codes, so no route builds an error body and no error escapes as a bare 500.
 */

/** How each request part is named in error paths (body paths are plain JSON Pointers). */
const PART_PREFIX: Record<string, string> = { body: '', querystring: 'query', params: 'params', headers: 'headers' };

const FASTIFY_CODES: Record<string, (error: FastifyError) => WeftError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (error) => new WeftError('PAYLOAD_TOO_LARGE', error.message, { cause: error }),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (error) =>
    new WeftError('UNSUPPORTED_MEDIA_TYPE', 'send JSON with Content-Type: application/json', { cause: error }),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (error) => new WeftError('MALFORMED_REQUEST', error.message, { cause: error }),
  FST_ERR_CTP_EMPTY_JSON_BODY: (error) =>
    new WeftError('MALFORMED_REQUEST', 'the body is empty but Content-Type is application/json', { cause: error }),
  FST_ERR_CTP_INVALID_JSON_BODY: (error) =>
    new WeftError('MALFORMED_REQUEST', `the body is not valid JSON: ${error.message}`, { cause: error }),
};

/** Maps any thrown value to a WeftError. `isUnavailable` recognises database outages. */
export function asWeftError(error: unknown, isUnavailable: (error: unknown) => boolean): WeftError {
  if (error instanceof WeftError) return error;
  const fastifyError = error as FastifyError & { validation?: ErrorObject[]; validationContext?: string };
  if (Array.isArray(fastifyError.validation)) {
    const prefix = PART_PREFIX[fastifyError.validationContext ?? 'body'] ?? '';
    return validationFailed(describeAjvErrors(fastifyError.validation, prefix), error);
  }
  const mapped = typeof fastifyError.code === 'string' ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) return mapped(fastifyError);
  if (isUnavailable(error)) {
    return new WeftError('DATABASE_UNAVAILABLE', 'the database cannot be reached; retry later', { cause: error });
  }
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return new WeftError('MALFORMED_REQUEST', `the body is not valid JSON: ${error.message}`, { cause: error });
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 404 ? 'NOT_FOUND' : status === 413 ? 'PAYLOAD_TOO_LARGE' : 'MALFORMED_REQUEST';
    return new WeftError(code, fastifyError.message, { cause: error });
  }
  return new WeftError('INTERNAL', 'an unexpected error occurred; it has been logged', { cause: error });
}

/** Sends a WeftError as problem+json. */
export function sendProblem(reply: FastifyReply, request: FastifyRequest, error: WeftError): FastifyReply {
  if (error.code === 'DATABASE_UNAVAILABLE') reply.header('retry-after', '5');
  // RFC 9110 §11.6.1: a 401 names the scheme that would be accepted.
  if (error.status === 401) reply.header('www-authenticate', 'Bearer realm="weft"');
  return reply
    .status(error.status)
    .type('application/problem+json; charset=utf-8')
    .send(JSON.stringify(toProblem(error, request.url.split('?')[0])));
}

/**
 * Installs the error and not-found handlers on the root instance, before its routes: a path that
 * exists with other methods is a 405 with `Allow` (route-methods.ts), any other a 404.
 */
export function installErrorHandling(app: FastifyInstance, isUnavailable: (error: unknown) => boolean): void {
  const routes = new RouteMethods(app);
  app.setErrorHandler((error, request, reply) => {
    const weftError = asWeftError(error, isUnavailable);
    if (weftError.status >= 500) {
      request.log.error(
        { err: error, code: weftError.code, method: request.method, url: request.url },
        'request failed',
      );
    } else {
      request.log.debug({ code: weftError.code, detail: weftError.message }, 'request rejected');
    }
    return sendProblem(reply, request, weftError);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = routes.allowed(path);
    if (allowed.length === 0) {
      return sendProblem(reply, request, new WeftError('ROUTE_NOT_FOUND', `no route ${request.method} ${path}`));
    }
    reply.header('allow', allowed.join(', '));
    return sendProblem(
      reply,
      request,
      new WeftError('METHOD_NOT_ALLOWED', `${path} does not take ${request.method}; it takes ${allowed.join(', ')}`),
    );
  });
}
