import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { loadConfig } from '../src/config.js';
import { assertProblem, sendRequest, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';

/**
 * CORS (docs/api.md): off unless WEFT_CORS_ORIGINS lists origins; then a listed origin's
 * preflight is a 204 and its requests carry the headers, an unlisted origin gets none (its
 * preflight a 403), and stream upgrades from an unlisted origin other than the server's own are
 * refused before the upgrade.
 */

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example.net';

/** Opens a stream with `origin` (undefined: none, like a server or the SDK); resolves to the upgrade's status. */
function upgradeStatus(server: TestServer, origin: string | undefined): Promise<number> {
  const url = `${server.url.replace(/^http/, 'ws')}/api/v1/stream`;
  const headers: Record<string, string> = { authorization: `Bearer ${server.adminKey}` };
  const socket = new WebSocket(url, { headers, ...(origin ? { origin } : {}) });
  return new Promise<number>((resolve, reject) => {
    socket.once('open', () => {
      socket.once('close', () => resolve(101));
      socket.close();
    });
    socket.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('error', reject);
  });
}

const preflight = (server: TestServer, origin: string, path = '/workflows') =>
  sendRequest(server.url, 'OPTIONS', path, {
    key: null,
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type, idempotency-key',
    },
  });

describe('WEFT_CORS_ORIGINS', () => {
  it('is read as origins, with `*` allowed and anything else refused at start', () => {
    assert.deepEqual(loadConfig({}).corsOrigins, []);
    assert.deepEqual(
      loadConfig({ WEFT_CORS_ORIGINS: ' HTTPS://App.Example.com:443 , http://localhost:5173,*' }).corsOrigins,
      ['https://app.example.com', 'http://localhost:5173', '*'],
    );
    for (const bad of ['app.example.com', 'https://app.example.com/path', 'ftp://x.example', 'https://a@b.example']) {
      assert.throws(
        () => loadConfig({ WEFT_CORS_ORIGINS: bad }),
        (error: Error & { code?: string }) => error.code === 'CONFIG_INVALID' && error.message.includes(bad),
      );
    }
  });
});

for (const backend of testBackends()) {
  describe(`CORS with listed origins (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend, { corsOrigins: [ALLOWED] });
    });
    after(() => server.close());

    it('answers a preflight from a listed origin with 204 and what it allows, before any key', async () => {
      const answer = await preflight(server, ALLOWED);
      assert.equal(answer.status, 204, answer.text);
      assert.equal(answer.headers.get('access-control-allow-origin'), ALLOWED);
      assert.match(answer.headers.get('access-control-allow-methods') ?? '', /\bPOST\b/);
      assert.match(answer.headers.get('access-control-allow-methods') ?? '', /\bDELETE\b/);
      const allowedHeaders = (answer.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      for (const header of ['authorization', 'content-type', 'idempotency-key', 'x-workspace-id']) {
        assert.ok(allowedHeaders.includes(header), `${header} in ${allowedHeaders}`);
      }
      assert.equal(answer.headers.get('access-control-max-age'), '600');
      assert.match(answer.headers.get('vary') ?? '', /Origin/i);
      assert.equal(answer.headers.get('access-control-allow-credentials'), null);
    });

    it('puts the headers on answers to a listed origin, errors included, and exposes Location', async () => {
      const created = await server.request('POST', '/workflows', {
        body: { name: 'Cors', steps: [{ id: 'a', type: 'noop' }] },
        headers: { origin: ALLOWED },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.headers.get('access-control-allow-origin'), ALLOWED);
      assert.match(created.headers.get('access-control-expose-headers') ?? '', /\bLocation\b/);
      assert.match(created.headers.get('access-control-expose-headers') ?? '', /\bRetry-After\b/);
      assert.match(created.headers.get('vary') ?? '', /Origin/i);
      // A script must be able to read why it was refused.
      const refused = await server.request('GET', '/workflows', { key: null, headers: { origin: ALLOWED } });
      assertProblem(refused, 401, 'UNAUTHORIZED');
      assert.equal(refused.headers.get('access-control-allow-origin'), ALLOWED);
      const missing = await server.request('GET', '/executions/ex_missing', { headers: { origin: ALLOWED } });
      assertProblem(missing, 404, 'NOT_FOUND');
      assert.equal(missing.headers.get('access-control-allow-origin'), ALLOWED);
    });

    it('gives an unlisted origin no CORS headers and refuses its preflight', async () => {
      const listed = await server.request('GET', '/workflows', { headers: { origin: OTHER } });
      assert.equal(listed.status, 200, 'the request itself is served; the browser keeps the answer from the page');
      assert.equal(listed.headers.get('access-control-allow-origin'), null);
      assert.equal(listed.headers.get('access-control-expose-headers'), null);
      const refused = await preflight(server, OTHER);
      assertProblem(refused, 403, 'ORIGIN_NOT_ALLOWED');
      assert.match(refused.body.detail, /evil\.example\.net/);
      assert.equal(refused.headers.get('access-control-allow-origin'), null);
    });

    it('leaves requests without an Origin and paths outside the API as they were', async () => {
      const plain = await server.request('GET', '/workflows');
      assert.equal(plain.status, 200);
      assert.equal(plain.headers.get('access-control-allow-origin'), null);
      const health = await sendRequest(server.url, 'GET', '!/healthz', { headers: { origin: ALLOWED } });
      assert.equal(health.headers.get('access-control-allow-origin'), null);
      const options = await sendRequest(server.url, 'OPTIONS', '/workflows', { key: null });
      assertProblem(options, 405, 'METHOD_NOT_ALLOWED');
    });

    it('refuses a stream upgrade from an unlisted origin and accepts a listed one, the server itself and none', async () => {
      assert.equal(await upgradeStatus(server, OTHER), 403);
      assert.equal(await upgradeStatus(server, ALLOWED), 101);
      // The served UI: its page and its streams share the server's host.
      const host = new URL(server.url).host;
      assert.equal(await upgradeStatus(server, `http://${host}`), 101);
      assert.equal(await upgradeStatus(server, undefined), 101);
      assert.equal(await upgradeStatus(server, 'null'), 403);
    });
  });

  describe(`CORS with any origin (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend, { corsOrigins: ['*'] });
    });
    after(() => server.close());

    it('allows every origin with `*`', async () => {
      const answer = await preflight(server, OTHER);
      assert.equal(answer.status, 204);
      assert.equal(answer.headers.get('access-control-allow-origin'), '*');
      const listed = await server.request('GET', '/workflows', { headers: { origin: OTHER } });
      assert.equal(listed.headers.get('access-control-allow-origin'), '*');
      assert.equal(await upgradeStatus(server, OTHER), 101);
    });
  });

  describe(`CORS off (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(() => server.close());

    it('sends no CORS headers and checks no Origin when WEFT_CORS_ORIGINS is unset', async () => {
      const listed = await server.request('GET', '/workflows', { headers: { origin: ALLOWED } });
      assert.equal(listed.status, 200);
      assert.equal(listed.headers.get('access-control-allow-origin'), null);
      assert.equal(listed.headers.get('vary'), null);
      const answer = await preflight(server, ALLOWED);
      assertProblem(answer, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(answer.headers.get('access-control-allow-origin'), null);
      assert.equal(await upgradeStatus(server, OTHER), 101);
    });
  });
}
