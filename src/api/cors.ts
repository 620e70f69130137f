import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WeftError } from '../errors.js';

/**
 * Cross-origin access for browsers (docs/api.md, CORS), off unless `WEFT_CORS_ORIGINS` lists
 * origins. Written here instead of using `@fastify/cors`, which is not a dependency: the API needs
 * only exact origins (or `*`), no cookies and one fixed set of methods and headers, and the
 * refusals must be problem+json like every other error.
 *
 * The API authenticates with a bearer key that a script sets itself, never with cookies, so no
 * `Access-Control-Allow-Credentials` is sent: a page on a listed origin still needs a key.
 */

/** Paths that answer cross-origin requests: the REST API and its OpenAPI document. */
function isCorsPath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return path === '/api/v1' || path.startsWith('/api/v1/') || path === '/openapi.json';
}

/** Methods of the API's routes, as a preflight allows them. */
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
/** Request headers the API reads (beyond the CORS-safelisted ones). */
const ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Idempotency-Key',
  'X-Workspace-Id',
  'X-Workspace-Slug',
  'Range',
  'If-Range',
  'If-None-Match',
].join(', ');
/** Response headers a script may read beyond the safelisted ones (artifacts, starts, errors). */
const EXPOSED_HEADERS = [
  'Location',
  'Retry-After',
  'ETag',
  'Content-Range',
  'Accept-Ranges',
  'Idempotent-Replayed',
  'Allow',
  'WWW-Authenticate',
].join(', ');
/** How long a browser may keep a preflight's answer (seconds). */
const PREFLIGHT_MAX_AGE_SECONDS = '600';

/** The origins of `WEFT_CORS_ORIGINS`, and the rule that says which may call. */
export class CorsOrigins {
  readonly #origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.#origins = new Set(origins);
  }

  /** True when `WEFT_CORS_ORIGINS` lists anything (else CORS is off and nothing is checked). */
  get enabled(): boolean {
    return this.#origins.size > 0;
  }

  /** True when `origin` (an `Origin` header) is listed, or `*` is. */
  allows(origin: string): boolean {
    return this.#origins.has('*') || this.#origins.has(origin);
  }

  /** The `Access-Control-Allow-Origin` value for a listed origin. */
  allowOriginValue(origin: string): string {
    return this.#origins.has(origin) ? origin : '*';
  }

  /**
   * Whether a WebSocket upgrade may go on: always with the list empty (no check, as before it
   * existed) or without an `Origin` (not a browser: servers and the SDK send none), and when the
   * origin is listed or is this server itself (same host as the request's `Host`, so the served
   * UI keeps its streams whatever the list says). The scheme is not compared: TLS may end at a
   * proxy in front of Weft.
   */
  allowsUpgrade(origin: string | undefined, host: string | undefined): boolean {
    if (!this.enabled || origin === undefined) return true;
    if (this.allows(origin)) return true;
    try {
      return host !== undefined && new URL(origin).host === host.toLowerCase();
    } catch {
      // A malformed Origin is no origin this server knows.
      return false;
    }
  }
}

/** The `Origin` header of a request, when it has exactly one. */
export function originOf(request: FastifyRequest): string | undefined {
  const origin = request.headers.origin;
  return typeof origin === 'string' && origin !== '' ? origin : undefined;
}

function isPreflight(request: FastifyRequest): boolean {
  return request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
}

/**
 * Installs CORS on the root instance, before every other hook (so that errors answered by the
 * request limits or authentication carry the headers too and a script can read them). A
 * preflight from a listed origin is answered 204 before authentication (browsers send no key on
 * it); from another origin it is a 403 `ORIGIN_NOT_ALLOWED`. Other requests from an unlisted
 * origin are served as usual, without CORS headers, so a browser keeps their answer from the
 * calling page.
 */
export function installCors(app: FastifyInstance, origins: CorsOrigins): void {
  if (!origins.enabled) return;
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!isCorsPath(request.url)) return;
    // Answers differ by Origin: shared caches must key them on it.
    reply.header('vary', 'Origin');
    const origin = originOf(request);
    if (origin === undefined) return;
    const allowed = origins.allows(origin);
    if (isPreflight(request)) {
      if (!allowed) {
        throw new WeftError('ORIGIN_NOT_ALLOWED', `origin '${origin}' is not in WEFT_CORS_ORIGINS`);
      }
      reply
        .header('access-control-allow-origin', origins.allowOriginValue(origin))
        .header('access-control-allow-methods', ALLOWED_METHODS)
        .header('access-control-allow-headers', ALLOWED_HEADERS)
        .header('access-control-max-age', PREFLIGHT_MAX_AGE_SECONDS);
      return reply.code(204).send();
    }
    if (!allowed) return;
    reply
      .header('access-control-allow-origin', origins.allowOriginValue(origin))
      .header('access-control-expose-headers', EXPOSED_HEADERS);
  });
}

/**
 * Refuses (403 `ORIGIN_NOT_ALLOWED`, before the upgrade) a WebSocket upgrade whose `Origin` is
 * neither listed nor this server's own: a page elsewhere cannot open a stream with a key it
 * holds. Installed on the stream routes' instance.
 */
export function installUpgradeOriginCheck(app: FastifyInstance, origins: CorsOrigins): void {
  if (!origins.enabled) return;
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const origin = originOf(request);
    if (!origins.allowsUpgrade(origin, request.headers.host)) {
      throw new WeftError('ORIGIN_NOT_ALLOWED', `origin '${origin}' may not open streams (WEFT_CORS_ORIGINS)`);
    }
  });
}
