import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertProblem, createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, waitForExecution } from './helpers/http-fixtures.js';

/** Artifacts (SPEC §3.1) through the API: upload, download, ranges, list, delete, cleanup. */

type UploadBody = NonNullable<RequestInit['body']>;

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/** Every file under a folder, relative to it (empty when the folder does not exist). */
function filesUnder(folder: string): string[] {
  try {
    return readdirSync(folder, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)));
  } catch {
    return [];
  }
}

async function upload(
  server: TestServer,
  executionId: string,
  name: string,
  body: UploadBody,
  headers: Record<string, string> = {},
  key = server.adminKey,
) {
  const response = await fetch(`${server.url}/api/v1/executions/${executionId}/artifacts/${name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${key}`, ...headers },
    body,
    duplex: 'half',
  } as RequestInit);
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text ? JSON.parse(text) : undefined };
}

async function download(server: TestServer, executionId: string, name: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/api/v1/executions/${executionId}/artifacts/${name}`, {
    headers: { authorization: `Bearer ${server.adminKey}`, ...headers },
  });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

for (const backend of testBackends()) {
  describe(`artifacts (${backend})`, () => {
    let server: TestServer;
    let executionId: string;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250, artifactMaxBytes: 64 * 1024 });
      executionId = await runAdhoc(server, { name: 'files', steps: [{ id: 'make', type: 'noop' }] });
      await waitForExecution(server, executionId, ['completed']);
    });
    after(() => server.close());

    it('stores an upload and streams it back with its type, length, ETag and sha256', async () => {
      const bytes = Buffer.from('<html><body>hello artifacts</body></html>');
      const put = await upload(server, executionId, 'page.html', bytes, { 'content-type': 'text/html' });
      assert.equal(put.status, 201, put.text);
      assert.deepEqual(
        { ...put.body, created_at: undefined },
        {
          name: 'page.html',
          size: bytes.length,
          content_type: 'text/html',
          sha256: sha256(bytes),
          step_id: null,
          created_at: undefined,
        },
      );
      assert.ok(!Number.isNaN(Date.parse(put.body.created_at)));
      const got = await download(server, executionId, 'page.html');
      assert.equal(got.status, 200);
      assert.deepEqual(got.bytes, bytes);
      assert.equal(got.headers.get('content-type'), 'text/html');
      assert.equal(got.headers.get('content-length'), String(bytes.length));
      assert.equal(got.headers.get('etag'), `"${sha256(bytes)}"`);
      assert.equal(got.headers.get('accept-ranges'), 'bytes');
      const notModified = await download(server, executionId, 'page.html', { 'if-none-match': `"${sha256(bytes)}"` });
      assert.equal(notModified.status, 304);
    });

    it('answers ranges with 206 and Content-Range, and 416 past the end', async () => {
      const bytes = Buffer.from('0123456789abcdef');
      assert.equal((await upload(server, executionId, 'digits.bin', bytes)).status, 201);
      const middle = await download(server, executionId, 'digits.bin', { range: 'bytes=2-5' });
      assert.equal(middle.status, 206);
      assert.equal(middle.bytes.toString(), '2345');
      assert.equal(middle.headers.get('content-range'), 'bytes 2-5/16');
      assert.equal(middle.headers.get('content-length'), '4');
      const suffix = await download(server, executionId, 'digits.bin', { range: 'bytes=-3' });
      assert.equal(suffix.status, 206);
      assert.equal(suffix.bytes.toString(), 'def');
      const open = await download(server, executionId, 'digits.bin', { range: 'bytes=10-' });
      assert.equal(open.bytes.toString(), 'abcdef');
      const past = await download(server, executionId, 'digits.bin', { range: 'bytes=16-20' });
      assert.equal(past.status, 416);
      assert.equal(past.headers.get('content-range'), 'bytes */16');
      assert.equal(JSON.parse(past.bytes.toString()).code, 'RANGE_NOT_SATISFIABLE');
      const stale = await download(server, executionId, 'digits.bin', { range: 'bytes=0-0', 'if-range': '"other"' });
      assert.equal(stale.status, 200, 'If-Range with another ETag sends the whole file');
      assert.equal(stale.bytes.length, 16);
    });

    it('replaces an artifact of the same name, lists by name and deletes', async () => {
      assert.equal((await upload(server, executionId, 'notes.txt', 'first')).status, 201);
      const second = await upload(server, executionId, 'notes.txt', 'second version', { 'content-type': 'text/plain' });
      assert.equal(second.status, 201);
      const got = await download(server, executionId, 'notes.txt');
      assert.equal(got.bytes.toString(), 'second version');
      assert.equal(got.headers.get('content-type'), 'text/plain');
      const listed = await server.request('GET', `/executions/${executionId}/artifacts`);
      assert.equal(listed.status, 200);
      const names = listed.body.items.map((item: { name: string }) => item.name);
      assert.deepEqual(names, [...names].sort());
      assert.ok(names.includes('notes.txt'));
      const paged = await server.request('GET', `/executions/${executionId}/artifacts?limit=1`);
      assert.equal(paged.body.items.length, 1);
      const next = await server.request(
        'GET',
        `/executions/${executionId}/artifacts?limit=1&cursor=${encodeURIComponent(paged.body.next_cursor)}`,
      );
      assert.notEqual(next.body.items[0].name, paged.body.items[0].name);
      const removed = await server.request('DELETE', `/executions/${executionId}/artifacts/notes.txt`);
      assert.equal(removed.status, 204);
      assertProblem(await server.request('GET', `/executions/${executionId}/artifacts/notes.txt`), 404, 'NOT_FOUND');
      assertProblem(await server.request('DELETE', `/executions/${executionId}/artifacts/notes.txt`), 404, 'NOT_FOUND');
      const leftFiles = filesUnder(server.config.artifactsDir).filter((file) => file.includes('notes.txt'));
      assert.deepEqual(leftFiles, [], 'the replaced and the deleted files are gone');
    });

    it('names the step an upload belongs to, and refuses a step the execution does not have', async () => {
      const put = await upload(server, executionId, 'by-step.txt', 'x', {}, server.adminKey);
      assert.equal(put.body.step_id, null);
      const response = await fetch(
        `${server.url}/api/v1/executions/${executionId}/artifacts/of-make.txt?step_id=make`,
        {
          method: 'PUT',
          headers: { authorization: `Bearer ${server.adminKey}` },
          body: 'made',
        },
      );
      assert.equal(response.status, 201);
      assert.equal(((await response.json()) as { step_id: string }).step_id, 'make');
      const unknown = await fetch(`${server.url}/api/v1/executions/${executionId}/artifacts/x.txt?step_id=nope`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${server.adminKey}` },
        body: 'x',
      });
      assert.equal(unknown.status, 400);
      assert.equal(((await unknown.json()) as { errors: Array<{ path: string }> }).errors[0]?.path, 'query/step_id');
    });

    it('refuses names outside the pattern with a 400 at the name', async () => {
      for (const name of ['.hidden', '-dash', 'a%20b', `${'a'.repeat(129)}`, 'a~b', 'caf%C3%A9']) {
        const put = await upload(server, executionId, name, 'x');
        assert.equal(put.status, 400, `${name}: ${put.text}`);
        assert.equal(put.body.code, 'VALIDATION_FAILED');
        assert.equal(put.body.errors[0].path, 'params/name');
      }
      assertProblem(
        await server.request('GET', `/executions/${executionId}/artifacts/.hidden`),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('refuses an upload over WEFT_ARTIFACT_MAX_BYTES with a 413, leaving nothing on disk', async () => {
      const before = filesUnder(server.config.artifactsDir);
      const declared = await upload(server, executionId, 'big.bin', Buffer.alloc(64 * 1024 + 1));
      assert.equal(declared.status, 413, declared.text);
      assert.equal(declared.body.code, 'PAYLOAD_TOO_LARGE');
      assert.match(declared.body.detail, /WEFT_ARTIFACT_MAX_BYTES/);
      // Chunked, so the size is only known while streaming.
      const chunks = (async function* () {
        for (let n = 0; n < 20; n += 1) yield Buffer.alloc(8 * 1024, n);
      })();
      const streamed = await upload(
        server,
        executionId,
        'big.bin',
        ReadableStream.from(chunks) as unknown as UploadBody,
      );
      assert.equal(streamed.status, 413, streamed.text);
      assert.equal(streamed.body.code, 'PAYLOAD_TOO_LARGE');
      assert.deepEqual(filesUnder(server.config.artifactsDir), before, 'no partial file is left');
      assertProblem(await server.request('GET', `/executions/${executionId}/artifacts/big.bin`), 404, 'NOT_FOUND');
      const fits = await upload(server, executionId, 'fits.bin', Buffer.alloc(64 * 1024));
      assert.equal(fits.status, 201, 'exactly the cap is accepted');
    });

    it('answers 404 for an execution of another workspace, and for an unknown one', async () => {
      const other = await server.request('POST', '/workspaces', { body: { slug: `other-${backend}`, name: 'Other' } });
      const otherKey = await createKey(server, 'member', other.body.id);
      const put = await upload(server, executionId, 'theirs.txt', 'x', {}, otherKey);
      assert.equal(put.status, 404, put.text);
      for (const [method, route] of [
        ['GET', `/executions/${executionId}/artifacts`],
        ['GET', `/executions/${executionId}/artifacts/page.html`],
        ['DELETE', `/executions/${executionId}/artifacts/page.html`],
      ] as const) {
        assertProblem(await server.request(method, route, { key: otherKey }), 404, 'NOT_FOUND');
      }
      assert.equal((await download(server, executionId, 'page.html')).status, 200, 'still there for its owner');
      assertProblem(await server.request('GET', '/executions/ex_nope/artifacts'), 404, 'NOT_FOUND');
      assert.equal((await upload(server, 'ex_nope', 'a.txt', 'x')).status, 404);
    });

    it('refuses a worker key that holds no task of the execution', async () => {
      const workerKey = await createKey(server, 'worker');
      const put = await upload(server, executionId, 'w.txt', 'x', {}, workerKey);
      assert.equal(put.status, 403, put.text);
      assert.equal(put.body.code, 'FORBIDDEN');
      assertProblem(
        await server.request('GET', `/executions/${executionId}/artifacts`, { key: workerKey }),
        403,
        'FORBIDDEN',
      );
    });

    it('deletes the files on cleanup?delete_artifacts=true and reports them', async () => {
      const id = await runAdhoc(server, { name: 'cleaned', steps: [{ id: 'only', type: 'noop' }] });
      await waitForExecution(server, id, ['completed']);
      await upload(server, id, 'a.txt', 'aaaa');
      await upload(server, id, 'b.txt', 'bb');
      const ofExecution = () => filesUnder(server.config.artifactsDir).filter((file) => file.includes(id));
      assert.equal(ofExecution().length, 2);
      const cleanup = await server.request('POST', `/executions/${id}/cleanup?delete_artifacts=true`);
      assert.equal(cleanup.status, 200, cleanup.text);
      assert.equal(cleanup.body.execution.id, id);
      assert.ok(cleanup.body.execution.deleted_at);
      assert.deepEqual(cleanup.body.cleanup, { artifacts_deleted: ['a.txt', 'b.txt'], bytes_deleted: 6, errors: [] });
      assert.deepEqual(ofExecution(), []);
      assertProblem(await server.request('GET', `/executions/${id}/artifacts`), 404, 'NOT_FOUND');
    });
  });
}
