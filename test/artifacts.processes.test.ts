import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  downloadHashed,
  MIB,
  pseudoRandomBody,
  putArtifact,
  residentBytes,
  sampleResident,
} from './helpers/artifact-streams.js';
import { createTestDatabase, postgresOnly, type TestDatabase, testBackends } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe } from './helpers/processes.js';
import { ADMIN_KEY, api, serveEnv } from './helpers/serve-restarts.js';

/**
 * Artifacts across real `weft serve` processes (SPEC §3.1, issue 11): a 200 MiB upload and download
 * stream through a server whose memory stays flat; a server killed with SIGKILL mid-upload or
 * mid-cleanup leaves no artifact row without its file; two processes on one PostgreSQL sharing a
 * `WEFT_ARTIFACTS_DIR` serve each other's artifacts.
 */

/** How much a server's RSS may grow while streaming a body many times that size. */
const RSS_HEADROOM = 64 * MIB;

/** Files of the execution's artifact folder (`<workspace>/<execution>`), by name. */
function filesOfExecution(database: TestDatabase, executionId: string): string[] {
  const root = database.config.artifactsDir;
  let workspaces: string[];
  try {
    workspaces = readdirSync(root);
  } catch {
    return [];
  }
  return workspaces.flatMap((workspace) => {
    try {
      return readdirSync(path.join(root, workspace, executionId));
    } catch {
      return [];
    }
  });
}

/** A finished ad-hoc execution (artifacts can be put on any execution; cleanup needs a finished one). */
async function finishedExecution(url: string): Promise<string> {
  const started = await api(url, 'POST', '/executions', {
    definition: { name: 'files', steps: [{ id: 'make', type: 'noop' }] },
    input: {},
  });
  assert.equal(started.status, 202, started.text);
  const id: string = started.body.id;
  await waitUntil(async () => (await api(url, 'GET', `/executions/${id}`)).body.status === 'completed', 'completed');
  return id;
}

/** Every artifact listed for an execution (all pages), or undefined when the execution is gone. */
async function listAll(url: string, executionId: string): Promise<Array<{ name: string; sha256: string }> | undefined> {
  const items: Array<{ name: string; sha256: string }> = [];
  let cursor: string | null = null;
  do {
    const page = await api(
      url,
      'GET',
      `/executions/${executionId}/artifacts?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    if (page.status === 404) return undefined;
    assert.equal(page.status, 200, page.text);
    items.push(...page.body.items);
    cursor = page.body.next_cursor;
  } while (cursor);
  return items;
}

const small = (index: number) => Buffer.from(`artifact number ${index}\n`.repeat(index + 1));
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

for (const backend of testBackends()) {
  describe(`artifacts across processes (${backend})`, () => {
    it('streams 200 MiB up and down with the server RSS under baseline + 64 MiB', async (t) => {
      const database = await createTestDatabase(backend, { migrated: true });
      const serve = await startServe(serveEnv(database));
      try {
        const pid = serve.child.pid ?? 0;
        const id = await finishedExecution(serve.url);
        // A warm-up round trip loads the routes' code, so the baseline is the server at work, not cold.
        const warm = pseudoRandomBody(2, { seed: 1 });
        assert.equal((await putArtifact(serve.url, ADMIN_KEY, id, 'warm.bin', warm.stream)).status, 201);
        assert.equal((await downloadHashed(serve.url, ADMIN_KEY, id, 'warm.bin')).sha256, warm.sent().sha256);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const baseline = residentBytes(pid);

        const mib = 200;
        const body = pseudoRandomBody(mib);
        const uploading = sampleResident(pid);
        const startedUp = performance.now();
        const put = await putArtifact(serve.url, ADMIN_KEY, id, 'big.bin', body.stream, mib * MIB);
        const upMs = performance.now() - startedUp;
        const up = uploading.stop();
        assert.equal(put.status, 201, put.text);
        assert.equal(body.sent().size, mib * MIB);
        assert.equal(put.body.size, mib * MIB);
        assert.equal(put.body.sha256, body.sent().sha256);

        const downloading = sampleResident(pid);
        const startedDown = performance.now();
        const got = await downloadHashed(serve.url, ADMIN_KEY, id, 'big.bin');
        const downMs = performance.now() - startedDown;
        const down = downloading.stop();
        assert.equal(got.status, 200);
        assert.equal(got.contentLength, String(mib * MIB));
        assert.equal(got.size, mib * MIB);
        assert.equal(got.sha256, body.sent().sha256);

        const growth = (peak: number) => `${((peak - baseline) / MIB).toFixed(1)} MiB`;
        t.diagnostic(
          `baseline ${(baseline / MIB).toFixed(0)} MiB; upload ${upMs.toFixed(0)} ms, +${growth(up.peak)} ` +
            `(${up.samples} samples); download ${downMs.toFixed(0)} ms, +${growth(down.peak)} (${down.samples} samples)`,
        );
        assert.ok(up.samples >= 3 && down.samples >= 3, 'RSS was sampled during both transfers');
        assert.ok(up.peak < baseline + RSS_HEADROOM, `upload grew the server's RSS by ${growth(up.peak)}`);
        assert.ok(down.peak < baseline + RSS_HEADROOM, `download grew the server's RSS by ${growth(down.peak)}`);
      } finally {
        await serve.stop('SIGKILL');
        await database.drop();
      }
    });

    it('a server killed mid-upload leaves no artifact, only a partial file, and takes the name again', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      let serve: ServeProcess | undefined = await startServe(serveEnv(database));
      try {
        const id = await finishedExecution(serve.url);
        const body = pseudoRandomBody(100, { holdAfter: 20 });
        const upload = putArtifact(serve.url, ADMIN_KEY, id, 'cut.bin', body.stream, 100 * MIB);
        upload.catch(() => undefined);
        // The 20 MiB sent have reached the server's partial file: the kill lands inside the write.
        await waitUntil(() => filesOfExecution(database, id).some((file) => file.startsWith('.partial-')), 'a partial');
        await waitUntil(() => body.sent().size === 20 * MIB, '20 MiB sent');
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        await assert.rejects(upload, 'the upload breaks with the server');
        body.release();
        body.stream.destroy();

        serve = await startServe(serveEnv(database));
        const missing = await api(serve.url, 'GET', `/executions/${id}/artifacts/cut.bin`);
        assert.equal(missing.status, 404, missing.text);
        assert.equal(missing.body.code, 'NOT_FOUND');
        assert.deepEqual(await listAll(serve.url, id), []);
        const files = filesOfExecution(database, id);
        assert.deepEqual(
          files.filter((file) => !file.startsWith('.partial-')),
          [],
          `only a partial file may remain: ${files}`,
        );

        const again = pseudoRandomBody(3, { seed: 3 });
        const put = await putArtifact(serve.url, ADMIN_KEY, id, 'cut.bin', again.stream);
        assert.equal(put.status, 201, put.text);
        const got = await downloadHashed(serve.url, ADMIN_KEY, id, 'cut.bin');
        assert.deepEqual({ size: got.size, sha256: got.sha256 }, again.sent());
        assert.deepEqual(
          (await listAll(serve.url, id))?.map((item) => item.name),
          ['cut.bin'],
        );
      } finally {
        await serve?.stop('SIGKILL');
        await database.drop();
      }
    });

    it('a server killed mid-cleanup leaves every listed artifact whole, and a repeat deletes the rest', async (t) => {
      const database = await createTestDatabase(backend, { migrated: true });
      let serve: ServeProcess | undefined = await startServe(serveEnv(database));
      try {
        const url = serve.url;
        const id = await finishedExecution(url);
        const count = 200;
        const names = Array.from({ length: count }, (_, index) => `file-${String(index).padStart(3, '0')}.txt`);
        for (let start = 0; start < count; start += 10) {
          const batch = names.slice(start, start + 10).map(async (name, offset) => {
            const response = await fetch(`${url}/api/v1/executions/${id}/artifacts/${name}`, {
              method: 'PUT',
              headers: { authorization: `Bearer ${ADMIN_KEY}` },
              body: small(start + offset),
            });
            assert.equal(response.status, 201, await response.text());
          });
          await Promise.all(batch);
        }
        assert.equal(filesOfExecution(database, id).length, count);

        // Kill as soon as the cleanup has visibly begun, so the kill lands part-way through it.
        const request = http.request(`${url}/api/v1/executions/${id}/cleanup?delete_artifacts=true`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        });
        request.on('error', () => undefined);
        request.end();
        const deadline = Date.now() + 10_000;
        while (filesOfExecution(database, id).length === count && Date.now() < deadline) {
          await new Promise((resolve) => setImmediate(resolve));
        }
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        const filesAtKill = filesOfExecution(database, id).length;

        serve = await startServe(serveEnv(database));
        const listed = await listAll(serve.url, id);
        t.diagnostic(`files left at the kill: ${filesAtKill}; artifacts listed after restart: ${listed?.length}`);
        assert.ok(listed !== undefined, 'the execution is visible until its files are gone');
        for (const item of listed) {
          const index = names.indexOf(item.name);
          const got = await downloadHashed(serve.url, ADMIN_KEY, id, item.name);
          assert.equal(got.status, 200, `listed ${item.name} can be downloaded`);
          assert.equal(got.sha256, sha256(small(index)), `${item.name} is whole`);
        }
        const repeat = await api(serve.url, 'POST', `/executions/${id}/cleanup?delete_artifacts=true`);
        assert.equal(repeat.status, 200, repeat.text);
        assert.deepEqual(
          repeat.body.cleanup.artifacts_deleted,
          listed.map((item) => item.name),
        );
        assert.deepEqual(repeat.body.cleanup.errors, []);
        assert.ok(repeat.body.execution.deleted_at);
        assert.deepEqual(filesOfExecution(database, id), [], 'no artifact file of the execution is left');
        assert.equal((await api(serve.url, 'GET', `/executions/${id}/artifacts`)).status, 404);
      } finally {
        await serve?.stop('SIGKILL');
        await database.drop();
      }
    });

    it(
      'two processes sharing WEFT_ARTIFACTS_DIR serve each other’s artifacts',
      postgresOnly(backend, 'several processes share one database only on PostgreSQL'),
      async () => {
        const database = await createTestDatabase(backend, { migrated: true });
        // The second process has a data folder of its own: only the artifacts folder is shared.
        const otherData = mkdtempSync(path.join(os.tmpdir(), 'weft-test-other-'));
        const shared = { WEFT_ARTIFACTS_DIR: database.config.artifactsDir };
        const serves: ServeProcess[] = [];
        try {
          serves.push(await startServe(serveEnv(database, { ...shared, WEFT_NODE_ID: 'files-a' })));
          serves.push(
            await startServe(serveEnv(database, { ...shared, WEFT_NODE_ID: 'files-b', WEFT_DATA_DIR: otherData })),
          );
          const [a, b] = serves as [ServeProcess, ServeProcess];
          const id = await finishedExecution(a.url);
          const body = pseudoRandomBody(8, { seed: 5 });
          const put = await putArtifact(a.url, ADMIN_KEY, id, 'shared.bin', body.stream);
          assert.equal(put.status, 201, put.text);
          const got = await downloadHashed(b.url, ADMIN_KEY, id, 'shared.bin');
          assert.equal(got.status, 200);
          assert.deepEqual({ size: got.size, sha256: got.sha256 }, body.sent());
          // And back: replaced through the other process, the first serves the new bytes.
          const replacement = pseudoRandomBody(1, { seed: 6 });
          assert.equal((await putArtifact(b.url, ADMIN_KEY, id, 'shared.bin', replacement.stream)).status, 201);
          const again = await downloadHashed(a.url, ADMIN_KEY, id, 'shared.bin');
          assert.deepEqual({ size: again.size, sha256: again.sha256 }, replacement.sent());
        } finally {
          for (const serve of serves) await serve.stop('SIGKILL');
          await database.drop();
          rmSync(otherData, { recursive: true, force: true });
        }
      },
    );
  });
}
