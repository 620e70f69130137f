import type { FastifyInstance } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';

/**
 * The methods each path is served with, to answer a known path with a wrong method as 405 with
 * `Allow` (RFC 9110 §15.5.6) instead of Fastify's 404. Fastify's own router does not say which
 * methods a concrete URL has, so every route is also added here (through `onRoute`, so it must be
 * installed before the routes) to a find-my-way router of the same defaults, whose lookup takes
 * a concrete path.
 */
export class RouteMethods {
  readonly #router = FindMyWay();
  readonly #methods = new Set<HTTPMethod>();

  /** Watches the routes `app` (and every plugin registered after this) adds. */
  constructor(app: FastifyInstance) {
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat().map((name) => name.toUpperCase() as HTTPMethod)) {
        if (this.#router.hasRoute(method, route.url)) continue;
        this.#router.on(method, route.url, () => undefined);
        this.#methods.add(method);
      }
    });
  }

  /** The methods a path (no query) is served with, sorted; empty when no route has it. */
  allowed(path: string): string[] {
    return [...this.#methods].filter((method) => this.#router.find(method, path) !== null).sort();
  }
}
