import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';

/**
 * Requests that never reach a route (issue 9 item 16): what Node's HTTP parser refuses, what the
 * router refuses, and headers Weft refuses itself are answered as problem+json with a registered
 * code, like every other error. Sent over raw sockets: fetch refuses to send most of them.
 */

/** A raw HTTP answer: status line, lower-cased headers and the body text. */
interface RawAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Writes `request` on a new socket and reads until the server closes it. */
function sendRaw(server: TestServer, request: string): Promise<RawAnswer> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(request, 'latin1'));
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const headEnd = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...headerLines] = text.slice(0, headEnd).split('\r\n');
      const headers = new Map(
        headerLines.map((line) => [
          line.slice(0, line.indexOf(':')).toLowerCase(),
          line.slice(line.indexOf(':') + 1).trim(),
        ]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(headEnd + 4) });
    });
  });
}

/** Asserts a problem+json answer with this status and code. */
function assertRawProblem(answer: RawAnswer, status: number, code: string): void {
  assert.equal(answer.status, status, answer.body);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const problem = JSON.parse(answer.body);
  assert.equal(problem.status, status);
  assert.equal(problem.code, code);
  assert.equal(typeof problem.title, 'string');
  assert.equal(typeof problem.detail, 'string');
}

for (const backend of testBackends()) {
  describe(`errors before a route are problem+json (${backend})`, () => {
    let server: TestServer;
    let auth = '';
    /** A GET of `target` with the admin key and `extra` header lines. */
    const get = (target: string, extra = '') =>
      sendRaw(server, `GET ${target} HTTP/1.1\r\nHost: x\r\n${auth}${extra}Connection: close\r\n\r\n`);
    before(async () => {
      server = await startTestServer(backend);
      auth = `Authorization: Bearer ${server.adminKey}\r\n`;
    });
    after(() => server.close());

    it('answers what is not HTTP with 400', async () => {
      assertRawProblem(await sendRaw(server, 'GARBAGE\r\n\r\n'), 400, 'MALFORMED_REQUEST');
      assertRawProblem(
        await sendRaw(server, `POST /api/v1/events HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: abc\r\n\r\n`),
        400,
        'MALFORMED_REQUEST',
      );
      assertRawProblem(await get('/api/v1/workflows', 'X-Workspace-Id: a\u0001b\r\n'), 400, 'MALFORMED_REQUEST');
      assertRawProblem(
        await sendRaw(server, `GET /api/v1/workflows HTTP/1.1\r\n${auth}Connection: close\r\n\r\n`),
        400,
        'MALFORMED_REQUEST',
      );
    });

    it('answers Bearer with a NUL byte with 400, and an unknown key of odd bytes with 401', async () => {
      assertRawProblem(
        await sendRaw(server, 'GET /api/v1/workflows HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \0\r\n\r\n'),
        400,
        'MALFORMED_REQUEST',
      );
      assertRawProblem(
        await sendRaw(
          server,
          'GET /api/v1/workflows HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n',
        ),
        401,
        'UNAUTHORIZED',
      );
    });

    it('answers a path that is not percent-encoded UTF-8 with 400 (%ff in an id)', async () => {
      const answer = await get('/api/v1/workflows/%ff');
      assertRawProblem(answer, 400, 'MALFORMED_REQUEST');
      assert.match(JSON.parse(answer.body).detail, /percent-encoded/);
      assertRawProblem(await get('/api/v1/executions/ex_%c3%28'), 400, 'MALFORMED_REQUEST');
    });

    it('answers long URLs and long ids with 414', async () => {
      assertRawProblem(await get(`/api/v1/workflows/${'a'.repeat(1500)}`), 414, 'URI_TOO_LONG');
      assertRawProblem(await get(`/api/v1/workflows?q=${'a'.repeat(10_000)}`), 414, 'URI_TOO_LONG');
      // Longer than the parser takes for a whole request head: refused while parsing.
      assertRawProblem(await get(`/api/v1/workflows/${'a'.repeat(20_000)}`), 414, 'URI_TOO_LONG');
    });

    it('answers headers over 16 KiB with 431', async () => {
      const answer = await get('/api/v1/workflows', `X-Big: ${'b'.repeat(20_000)}\r\n`);
      assertRawProblem(answer, 431, 'HEADERS_TOO_LARGE');
      const many = Array.from({ length: 400 }, (_, index) => `X-H${index}: ${'v'.repeat(40)}\r\n`).join('');
      assertRawProblem(await get('/api/v1/workflows', many), 431, 'HEADERS_TOO_LARGE');
    });

    it('answers an Expect other than 100-continue with 417', async () => {
      const answer = await sendRaw(
        server,
        `POST /api/v1/events HTTP/1.1\r\nHost: x\r\n${auth}Expect: teapot\r\nContent-Type: application/json\r\n` +
          'Content-Length: 2\r\nConnection: close\r\n\r\n{}',
      );
      assertRawProblem(answer, 417, 'EXPECTATION_FAILED');
    });

    it('keeps serving after each of them', async () => {
      const answer = await get('/healthz');
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(JSON.parse(answer.body), { status: 'ok' });
    });
  });
}
