import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defineTask } from '../src/tasks/task-type.js';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution } from './helpers/http-fixtures.js';

/**
 * Steps that produce artifacts (SPEC §3.1): the `http` task's `save_as`, which streams a response
 * body into an artifact, and in-process handlers calling `context.artifacts.put`. Upstreams are
 * real servers on loopback; results are read back through the API.
 */

const MiB = 1024 * 1024;
/** The cap of these servers: the 3 MiB body fits, the 5 MiB one does not. */
const ARTIFACT_MAX_BYTES = 4 * MiB;
/** The cap of a body kept in a step output, below the 3 MiB that save_as stores. */
const HTTP_MAX_RESPONSE_BYTES = MiB;

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

interface Upstream {
  url: string;
  /** Requests received, by path. */
  hits: string[];
  close(): Promise<void>;
}

/**
 * A server answering `/bytes/<n>` with n random bytes (the last body sent is kept), written in
 * 64 KiB chunks without Content-Length so only counting while streaming can enforce a cap, and
 * `/status/<code>` with that status and a small body.
 */
async function startUpstream(): Promise<Upstream & { lastBody(): Buffer }> {
  const hits: string[] = [];
  let last = Buffer.alloc(0);
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '/');
    // Weft drops the connection of a body it refuses: the write then fails, as expected here.
    res.on('error', () => undefined);
    const [, kind, arg] = (req.url ?? '/').split('/');
    if (kind === 'status') return res.writeHead(Number(arg), { 'content-type': 'text/html' }).end('<h1>no</h1>');
    const body = randomBytes(Number(arg));
    last = body;
    res.writeHead(200, { 'content-type': 'image/png' });
    const write = (offset: number): void => {
      while (offset < body.length) {
        const chunk = body.subarray(offset, offset + 64 * 1024);
        offset += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', () => write(offset));
          return;
        }
      }
      res.end();
    };
    write(0);
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    lastBody: () => last,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An in-process plugin type that stores a JSON report of its input as the artifact `input.name`. */
const reportTask = defineTask({
  type: 'test.report',
  description: 'Stores a JSON report of its input as an artifact.',
  inputSchema: {
    type: 'object',
    required: ['name'],
    properties: { name: { type: 'string' }, value: {} },
  },
  handler: async (input, context) => {
    const { name, value } = input as { name: string; value: unknown };
    const artifact = await context.artifacts.put(name, JSON.stringify({ value }), 'application/json');
    return { artifact };
  },
});

async function download(server: TestServer, executionId: string, name: string) {
  const response = await fetch(`${server.url}/api/v1/executions/${executionId}/artifacts/${name}`, {
    headers: { authorization: `Bearer ${server.adminKey}` },
  });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

async function listArtifacts(server: TestServer, executionId: string) {
  const listed = await server.request('GET', `/executions/${executionId}/artifacts?limit=100`);
  assert.equal(listed.status, 200, listed.text);
  return listed.body.items as Array<{ name: string; size: number; step_id: string | null; sha256: string }>;
}

/** Every file under a folder whose path includes `part` (none when the folder does not exist). */
function filesNamed(folder: string, part: string): string[] {
  try {
    return readdirSync(folder, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.join(entry.parentPath, entry.name))
      .filter((file) => file.includes(part));
  } catch {
    return [];
  }
}

/** Runs one `http` step with save_as and 3 attempts allowed (so a retry would show). */
async function runSaveAs(server: TestServer, input: Record<string, unknown>) {
  const id = await runAdhoc(server, {
    name: 'save as',
    steps: [{ id: 'fetch', type: 'http', input, retry: { max_attempts: 3, delay_ms: 10, jitter: false } }],
  });
  const execution = await waitForExecution(server, id, ['completed', 'failed'], 30_000);
  return { id, step: stepOf(execution, 'fetch') };
}

for (const backend of testBackends()) {
  describe(`artifact producers (${backend})`, () => {
    let server: TestServer;
    let upstream: Awaited<ReturnType<typeof startUpstream>>;

    before(async () => {
      server = await startTestServer(
        backend,
        { pollIntervalMs: 250, artifactMaxBytes: ARTIFACT_MAX_BYTES, httpMaxResponseBytes: HTTP_MAX_RESPONSE_BYTES },
        [reportTask],
      );
      upstream = await startUpstream();
    });
    after(async () => {
      await server.close();
      await upstream.close();
    });

    it('http save_as streams a 3 MiB body into an artifact that a later step references', async () => {
      const size = 3 * MiB;
      assert.ok(size > HTTP_MAX_RESPONSE_BYTES, 'WEFT_ARTIFACT_MAX_BYTES applies here, not the body cap');
      const id = await runAdhoc(server, {
        name: 'download',
        steps: [
          { id: 'fetch', type: 'http', input: { url: `${upstream.url}/bytes/${size}`, save_as: 'image.png' } },
          { id: 'check', type: 'noop', input: { sha256: '{{ steps.fetch.output.artifact.sha256 }}' } },
        ],
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed'], 30_000);
      const fetched = stepOf(execution, 'fetch');
      assert.equal(fetched.status, 'completed', JSON.stringify(fetched.error));
      const body = upstream.lastBody();
      assert.equal(body.length, size);
      assert.deepEqual(Object.keys(fetched.output).sort(), ['artifact', 'headers', 'status']);
      assert.equal(fetched.output.status, 200);
      assert.equal(fetched.output.headers['content-type'], 'image/png');
      assert.deepEqual(fetched.output.artifact, {
        name: 'image.png',
        size,
        content_type: 'image/png',
        sha256: sha256(body),
      });
      assert.deepEqual(stepOf(execution, 'check').output, { sha256: sha256(body) });

      const got = await download(server, id, 'image.png');
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('content-type'), 'image/png');
      assert.ok(got.bytes.equals(body), 'the stored bytes are the response body');
      const [listed] = await listArtifacts(server, id);
      assert.equal(listed?.name, 'image.png');
      assert.equal(listed?.step_id, 'fetch');
    });

    it('http save_as with a body over WEFT_ARTIFACT_MAX_BYTES fails without retry and stores nothing', async () => {
      const hitsBefore = upstream.hits.length;
      const { id, step } = await runSaveAs(server, { url: `${upstream.url}/bytes/${5 * MiB}`, save_as: 'big.bin' });
      assert.equal(step.status, 'failed');
      assert.equal(step.attempts, 1, `not retried: ${JSON.stringify(step.error)}`);
      assert.equal(step.error.retryable, false);
      assert.equal(step.error.code, 'SIZE_LIMIT', JSON.stringify(step.error));
      assert.match(step.error.message, new RegExp(`WEFT_ARTIFACT_MAX_BYTES \\(${ARTIFACT_MAX_BYTES} bytes\\)`));
      assert.equal(upstream.hits.length - hitsBefore, 1, 'one request');
      assert.deepEqual(await listArtifacts(server, id), []);
      assert.equal((await download(server, id, 'big.bin')).status, 404);
      assert.deepEqual(filesNamed(server.config.artifactsDir, id), [], 'no file, whole or partial, is left');
    });

    it('http save_as with a rendered name that is not an artifact name fails without retry, sending nothing', async () => {
      const hitsBefore = upstream.hits.length;
      const id = await runAdhoc(
        server,
        {
          name: 'bad name',
          steps: [
            {
              id: 'fetch',
              type: 'http',
              input: { url: `${upstream.url}/bytes/10`, save_as: '{{ input.name }}' },
              retry: { max_attempts: 3, delay_ms: 10, jitter: false },
            },
          ],
        },
        { name: '../escape me' },
      );
      const step = stepOf(await waitForExecution(server, id, ['completed', 'failed']), 'fetch');
      assert.equal(step.status, 'failed');
      assert.equal(step.attempts, 1, `not retried: ${JSON.stringify(step.error)}`);
      assert.equal(step.error.retryable, false);
      assert.match(step.error.message, /'\.\.\/escape me' is not an artifact name/);
      assert.equal(upstream.hits.length, hitsBefore, 'no request was sent');
      assert.deepEqual(await listArtifacts(server, id), []);
    });

    it('refuses a literal save_as that is not an artifact name at validation', async () => {
      const response = await server.request('POST', '/workflows/validate', {
        body: { name: 'x', steps: [{ id: 'f', type: 'http', input: { url: 'http://example.com', save_as: 'a b' } }] },
      });
      assert.equal(response.status, 200, response.text);
      assert.equal(response.body.valid, false);
      assert.deepEqual(
        response.body.errors.map((error: { path: string }) => error.path),
        ['/steps/0/input/save_as'],
      );
    });

    it('http save_as fails on a status outside expect_status before storing anything', async () => {
      const { id, step } = await runSaveAs(server, { url: `${upstream.url}/status/404`, save_as: 'page.html' });
      assert.equal(step.status, 'failed');
      assert.equal(step.attempts, 1);
      assert.match(step.error.message, /answered 404/);
      assert.deepEqual(await listArtifacts(server, id), []);
      const retried = await runSaveAs(server, { url: `${upstream.url}/status/503`, save_as: 'page.html' });
      assert.equal(retried.step.status, 'failed');
      assert.equal(retried.step.attempts, 3, '5xx is retried, as without save_as');
      assert.deepEqual(await listArtifacts(server, retried.id), []);
    });

    it('an in-process handler puts artifacts attributed to its step, one per for_each item', async () => {
      const items = ['a', 'b', 'c'];
      const id = await runAdhoc(
        server,
        {
          name: 'reports',
          steps: [
            { id: 'report', type: 'test.report', input: { name: 'report.json', value: '{{ input.items }}' } },
            {
              id: 'each',
              type: 'test.report',
              for_each: '{{ input.items }}',
              input: { name: 'item-{{ index }}.txt', value: '{{ item }}' },
            },
          ],
        },
        { items },
      );
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution.steps));
      const report = JSON.stringify({ value: items });
      assert.deepEqual(stepOf(execution, 'report').output, {
        artifact: {
          name: 'report.json',
          size: report.length,
          content_type: 'application/json',
          sha256: sha256(report),
        },
      });
      const listed = await listArtifacts(server, id);
      assert.deepEqual(
        listed.map(({ name, step_id }) => ({ name, step_id })),
        [
          ...items.map((_, index) => ({ name: `item-${index}.txt`, step_id: 'each' })),
          { name: 'report.json', step_id: 'report' },
        ],
      );
      const got = await download(server, id, 'report.json');
      assert.equal(got.headers.get('content-type'), 'application/json');
      assert.deepEqual(JSON.parse(got.bytes.toString()), { value: items });
      for (const [index, item] of items.entries()) {
        const file = await download(server, id, `item-${index}.txt`);
        assert.deepEqual(JSON.parse(file.bytes.toString()), { value: item });
      }
    });
  });
}
