import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { packageFile } from '../package-files.js';

/**
 * The web UI (SPEC §7): the single-page app that `npm run build` writes to `dist/web`, served at
 * `/` by the same server as the API (no second server, no CDN). The app's own paths answer its
 * HTML (history routing), hashed assets are cached for good, and every other path keeps its route
 * (`/api/v1`, `/docs`, `/openapi.json`, `/healthz`, `/readyz`, `/metrics`) or its 404 problem.
 */

/** Where the built app lives: `<package>/dist/web`, whether this runs from `src/`, `dist/` or the bundle. */
export const WEB_ROOT = `${packageFile('dist', 'web')}/`;

/** The app's paths (web/src/app/app.tsx): each answers index.html and the app routes itself. */
export const APP_PATHS = ['/', '/sign-in', '/workflows', '/workflows/*', '/executions', '/executions/*', '/workers'];

/**
 * The UI's pages are same-origin only: scripts and workers from this server, styles inline (React
 * Flow positions nodes with style attributes), streams over ws(s) to this host.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self' ws: wss:",
  "frame-ancestors 'none'",
  "base-uri 'self'",
].join('; ');

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Weft</title>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The web UI is not built</h1>
<p>This server found no <code>dist/web/index.html</code>. Run <code>npm run build</code> (or <code>npm start</code>,
which builds first) and reload. The API is at <a href="/api/v1">/api/v1</a> and its docs at <a href="/docs">/docs</a>.</p>`;

function sendApp(reply: FastifyReply, root: string, built: boolean) {
  reply.header('cache-control', 'no-cache').header('content-security-policy', CONTENT_SECURITY_POLICY);
  if (!built) return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT);
  return reply.type('text/html; charset=utf-8').sendFile('index.html', root);
}

/** Registers the UI's files and its history routes on the server. */
export async function webUiRoutes(app: FastifyInstance, root: string = WEB_ROOT): Promise<void> {
  const built = existsSync(`${root}/index.html`);
  await app.register(async (ui) => {
    if (built) {
      // Hashed bundles: any file under /assets/ (a rebuild while serving adds new names), cached for good.
      await ui.register(fastifyStatic, {
        root: `${root}/assets`,
        prefix: '/assets/',
        index: false,
        schemaHide: true,
        immutable: true,
        maxAge: '365d',
      });
      // The few top-level files (favicon): routes for those present at start only, so an unknown
      // path keeps the API's 404 problem.
      await ui.register(fastifyStatic, {
        root,
        prefix: '/',
        wildcard: false,
        index: false,
        schemaHide: true,
        decorateReply: false,
        globIgnore: ['assets/**'],
      });
    }
    for (const url of APP_PATHS) {
      // index.html itself is one of the static files; `/` and the app's paths answer it too.
      ui.get(url, { schema: { hide: true } }, async (_request, reply) => sendApp(reply, root, built));
    }
  });
}
