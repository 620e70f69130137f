import type { FastifyInstance, FastifyRequest } from 'fastify';
import { validationFailed, WeftError } from '../errors.js';
import { findMalformedQuery, findUnacceptableValue, MAX_JSON_DEPTH } from './request-text.js';

/**
 * The checks every request passes before authentication, schemas and routes see it: the length of
 * its URL, a JSON body nested at most 64 levels, and text (body, query string, path parameters)
 * that both databases can store. Installed once on the root instance, so every route, present
 * and future, is covered without a per-route check.
 */

/** Longest request target (path and query) answered; longer ones are a 414. */
export const MAX_URL_LENGTH = 8192;

function checkTextOf(values: unknown, part: string): void {
  if (values === null || typeof values !== 'object') return;
  // Query strings and params are flat (`label` may repeat into an array): a depth of 3 is plenty.
  const problem = findUnacceptableValue(values, part, 3);
  if (problem) throw validationFailed([problem]);
}

/** Installs the JSON body parser and the URL, query and parameter checks on the root instance. */
export function installRequestLimits(app: FastifyInstance): void {
  // Fastify's own parser (secure-json-parse, which refuses __proto__ and constructor.prototype):
  // V8's JSON.parse and its filter are iterative, so a body nested to its size limit cannot
  // exhaust the stack; the parsed value is then checked once, iteratively, before anything else
  // (schemas, definition validation, templates, the database) walks it.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // An empty body is no body (curl and many clients send the header on DELETE and bare POSTs):
    // a route whose body is optional takes it, one that needs a body says so at `/`.
    if (body === '') return done(null, undefined);
    parseJson(request, body as string, (error: Error | null, value?: unknown) => {
      if (error) return done(error, undefined);
      const problem = findUnacceptableValue(value, '', MAX_JSON_DEPTH);
      if (problem) return done(validationFailed([problem]), undefined);
      done(null, value);
    });
  });

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const { httpVersion } = request.raw;
    if (httpVersion === '1.1' && request.headers.host === undefined) {
      throw new WeftError('MALFORMED_REQUEST', 'an HTTP/1.1 request needs a Host header');
    }
    if (request.url.length > MAX_URL_LENGTH) {
      throw new WeftError(
        'URI_TOO_LONG',
        `the request target has ${request.url.length} characters; at most ${MAX_URL_LENGTH} are accepted`,
      );
    }
  });
  // Before every route's own preValidation and schema: params and query values are text from the
  // URL (`%00` decodes to U+0000), whichever schema the route declares.
  app.addHook('preValidation', async (request: FastifyRequest) => {
    checkTextOf(request.params, 'params');
    const malformed = findMalformedQuery(request.url);
    if (malformed) throw validationFailed([malformed]);
    checkTextOf(request.query, 'query');
  });
}
