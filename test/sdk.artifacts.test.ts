import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  type Artifact,
  createClient,
  createWorker,
  WeftApiError,
  type WeftClient,
  type WeftWorker,
  type WorkerOptions,
  type WorkerTaskContext,
} from '../src/sdk/index.js';
import { createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution, waitUntil } from './helpers/http-fixtures.js';

/**
 * Artifacts through the SDK (SPEC §3.1, §5): `client.artifacts` with a member key, and
 * `putArtifact` of a worker's task context with a worker key, which the server allows only while
 * the key holds a task of the execution.
 */

const MAX_BYTES = 64 * 1024;
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/** Throws unless `promise` rejects with a WeftApiError of this status and code. */
async function apiError(promise: Promise<unknown>, status: number, code: string): Promise<WeftApiError> {
  const error = await promise.then(
    () => assert.fail(`expected a ${status} ${code} answer`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof WeftApiError, `expected a WeftApiError, got ${String(error)}`);
  assert.equal(error.status, status, error.message);
  assert.equal(error.code, code, error.message);
  return error;
}

/** A promise with its resolve, for handlers that wait on the test. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

for (const backend of testBackends()) {
  describe(`SDK artifacts (${backend})`, () => {
    let server: TestServer;
    let workerKey: string;
    let member: WeftClient;
    const workers: WeftWorker[] = [];

    async function startWorker(handlers: WorkerOptions['handlers']): Promise<WeftWorker> {
      const worker = createWorker({ baseUrl: server.url, apiKey: workerKey, pollWaitSeconds: 1, handlers });
      workers.push(worker);
      await worker.start();
      return worker;
    }

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250, artifactMaxBytes: MAX_BYTES });
      workerKey = await createKey(server, 'worker');
      // With the /api/v1 suffix, which the client accepts: artifact URLs must not double it.
      member = createClient({ baseUrl: `${server.url}/api/v1`, apiKey: await createKey(server, 'member') });
    });
    after(async () => {
      await Promise.all(workers.map((worker) => worker.stop({ graceMs: 0 })));
      await server.close();
    });

    it('a worker puts an artifact of its step and outputs it; a member downloads it; after completing, 403', async () => {
      const bytes = Uint8Array.from({ length: 1000 }, (_, n) => (n * 7) % 256);
      const contexts: WorkerTaskContext[] = [];
      await startWorker({
        'art.render': async (_input, task) => {
          contexts.push(task);
          return task.putArtifact('out.bin', bytes, 'application/octet-stream');
        },
      });
      const id = await runAdhoc(server, {
        name: 'render',
        steps: [{ id: 'render', type: 'art.render' }],
        output: '{{ steps.render.output }}',
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed'], 20_000);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      const view = stepOf(execution, 'render').output as Artifact;
      assert.deepEqual(
        { ...view, created_at: undefined },
        {
          name: 'out.bin',
          size: bytes.length,
          content_type: 'application/octet-stream',
          sha256: sha256(bytes),
          step_id: 'render',
          created_at: undefined,
        },
      );

      const download = await member.artifacts.get(id, 'out.bin');
      assert.equal(download.status, 200);
      assert.equal(download.contentType, 'application/octet-stream');
      assert.equal(download.size, bytes.length);
      assert.equal(download.sha256, sha256(bytes));
      const got = await download.bytes();
      assert.deepEqual(got, bytes);
      assert.equal(sha256(got), view.sha256);
      assert.deepEqual((await member.artifacts.list(id)).items, [view]);

      // The task is settled: the same key, through the same context, no longer holds a task of it.
      const [context] = contexts;
      assert.ok(context);
      await apiError(context.putArtifact('late.bin', 'too late'), 403, 'FORBIDDEN');
      const workerClient = createClient({ baseUrl: server.url, apiKey: workerKey });
      await apiError(workerClient.artifacts.put(id, 'late.bin', 'too late', { stepId: 'render' }), 403, 'FORBIDDEN');
      assert.deepEqual(
        (await member.artifacts.list(id)).items.map((item) => item.name),
        ['out.bin'],
      );
    });

    it('a worker key may not put artifacts of an execution whose task it does not hold', async () => {
      const held = gate();
      const refusals: unknown[] = [];
      let other = '';
      const worker = await startWorker({
        'art.hold': async (_input, task) => {
          // While this key holds a task of this execution, but not of `other`.
          const own = await task.putArtifact('own.txt', 'mine', 'text/plain');
          const client = createClient({ baseUrl: server.url, apiKey: workerKey });
          refusals.push(await client.artifacts.put(other, 'theirs.txt', 'x').catch((error: unknown) => error));
          await held.opened;
          return own;
        },
      });
      // A step of a declared type that nobody polls: running, its task queued, held by no key.
      await member.taskTypes.declare('art.unserved');
      other = await runAdhoc(server, { name: 'other', steps: [{ id: 'wait', type: 'art.unserved' }] });
      const id = await runAdhoc(server, { name: 'hold', steps: [{ id: 'hold', type: 'art.hold' }] });
      await waitUntil(() => refusals.length === 1, 'the handler to try the other execution', 20_000);
      const [refusal] = refusals;
      assert.ok(refusal instanceof WeftApiError, String(refusal));
      assert.equal(refusal.status, 403);
      assert.equal(refusal.code, 'FORBIDDEN');

      // Another worker key holds no task of `id`, even while the first one does.
      const stranger = createClient({ baseUrl: server.url, apiKey: await createKey(server, 'worker') });
      await apiError(stranger.artifacts.put(id, 'stranger.txt', 'x'), 403, 'FORBIDDEN');
      held.open();
      const execution = await waitForExecution(server, id, ['completed', 'failed'], 20_000);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      assert.deepEqual(
        (await member.artifacts.list(id)).items.map((item) => [item.name, item.step_id]),
        [['own.txt', 'hold']],
      );
      assert.deepEqual((await member.artifacts.list(other)).items, []);
      await worker.stop({ graceMs: 0 });
      await member.executions.cancel(other);
    });

    it('each item task of a for_each step puts its own artifact', async () => {
      const words = ['alpha', 'beta', 'gamma', 'delta'];
      await startWorker({
        'art.item': async (input: { word: string }, task) =>
          task.putArtifact(`item-${task.index}.txt`, `${task.index}: ${input.word}`, 'text/plain'),
      });
      const id = await runAdhoc(
        server,
        {
          name: 'items',
          steps: [{ id: 'each', type: 'art.item', for_each: '{{ input.words }}', input: { word: '{{ item }}' } }],
          output: '{{ steps.each.output }}',
        },
        { words },
      );
      const execution = await waitForExecution(server, id, ['completed', 'failed'], 20_000);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      const views = execution.output as Artifact[];
      assert.deepEqual(
        views.map((view) => [view.name, view.step_id, view.sha256]),
        words.map((word, index) => [`item-${index}.txt`, 'each', sha256(`${index}: ${word}`)]),
      );
      const listed = await member.artifacts.list(id);
      assert.deepEqual(
        listed.items.map((item) => item.name),
        words.map((_, index) => `item-${index}.txt`),
      );
      for (const [index, word] of words.entries()) {
        assert.equal(await (await member.artifacts.get(id, `item-${index}.txt`)).text(), `${index}: ${word}`);
      }
    });

    it('client put, get, list and delete round trip with a member key, from every kind of body', async () => {
      const id = await runAdhoc(server, { name: 'files', steps: [{ id: 'make', type: 'noop' }] });
      await waitForExecution(server, id, ['completed']);
      const chunks = ['stream', 'ed ', 'in ', 'chunks'];
      const bodies = {
        'bytes.bin': {
          data: new TextEncoder().encode('raw bytes'),
          text: 'raw bytes',
          type: 'application/octet-stream',
        },
        'text.txt': { data: 'a string', text: 'a string', type: 'text/plain;charset=UTF-8' },
        'blob.json': {
          data: new Blob(['{"a":1}'], { type: 'application/json' }),
          text: '{"a":1}',
          type: 'application/json',
        },
        'web.txt': {
          data: new ReadableStream<Uint8Array>({
            start(controller) {
              for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
              controller.close();
            },
          }),
          text: chunks.join(''),
          type: 'application/octet-stream',
        },
        'node.txt': {
          data: Readable.from(chunks.map((chunk) => Buffer.from(chunk))),
          text: chunks.join(''),
          type: 'text/x-node',
        },
        'gen.txt': {
          data: (async function* () {
            yield* chunks;
          })(),
          text: chunks.join(''),
          type: 'text/x-generated',
        },
      };
      for (const [name, { data, text, type }] of Object.entries(bodies)) {
        const contentType = ['node.txt', 'gen.txt'].includes(name) ? type : undefined;
        const view = await member.artifacts.put(id, name, data, { contentType, stepId: 'make' });
        assert.deepEqual(
          [view.name, view.size, view.sha256, view.content_type, view.step_id],
          [name, Buffer.byteLength(text), sha256(text), type, 'make'],
          name,
        );
        const download = await member.artifacts.get(id, name);
        assert.equal(download.contentType, type, name);
        assert.equal(download.sha256, sha256(text), name);
        assert.equal(await download.text(), text, name);
      }
      const names = Object.keys(bodies).sort();
      assert.deepEqual(
        (await member.artifacts.list(id)).items.map((item) => item.name),
        names,
      );
      const first = await member.artifacts.list(id, { limit: 2 });
      assert.equal(first.items.length, 2);
      assert.ok(first.next_cursor);
      const second = await member.artifacts.list(id, { limit: 2, cursor: first.next_cursor });
      assert.deepEqual(
        [...first.items, ...second.items].map((item) => item.name),
        names.slice(0, 4),
      );

      await member.artifacts.delete(id, 'text.txt');
      await apiError(member.artifacts.get(id, 'text.txt'), 404, 'NOT_FOUND');
      await apiError(member.artifacts.delete(id, 'text.txt'), 404, 'NOT_FOUND');
      await apiError(member.artifacts.put(id, '.hidden', 'x'), 400, 'VALIDATION_FAILED');
      const unknownStep = await apiError(
        member.artifacts.put(id, 'x.txt', 'x', { stepId: 'nope' }),
        400,
        'VALIDATION_FAILED',
      );
      assert.equal(unknownStep.errors[0]?.path, 'query/step_id');
      await apiError(member.artifacts.list('ex_nope'), 404, 'NOT_FOUND');
      const workerClient = createClient({ baseUrl: server.url, apiKey: workerKey });
      await apiError(workerClient.artifacts.get(id, 'bytes.bin'), 403, 'FORBIDDEN');
    });

    it('downloads ranges (206, with the bytes sent and the whole size) and answers 416 past the end', async () => {
      const id = await runAdhoc(server, { name: 'ranges', steps: [{ id: 'make', type: 'noop' }] });
      await waitForExecution(server, id, ['completed']);
      const digits = '0123456789abcdef';
      await member.artifacts.put(id, 'digits.txt', digits, { contentType: 'text/plain' });
      const cases = [
        { range: { start: 2, end: 5 }, text: '2345', sent: { start: 2, end: 5 } },
        { range: { start: 10 }, text: 'abcdef', sent: { start: 10, end: 15 } },
        { range: { suffix: 3 }, text: 'def', sent: { start: 13, end: 15 } },
      ];
      for (const { range, text, sent } of cases) {
        const part = await member.artifacts.get(id, 'digits.txt', { range });
        assert.equal(part.status, 206, JSON.stringify(range));
        assert.deepEqual(part.range, sent);
        assert.equal(part.size, text.length);
        assert.equal(part.totalSize, digits.length);
        assert.equal(part.sha256, sha256(digits), 'the ETag is the whole artifact’s');
        assert.equal(await part.text(), text);
      }
      const whole = await member.artifacts.get(id, 'digits.txt');
      assert.equal(whole.status, 200);
      assert.equal(whole.range, undefined);
      assert.equal(whole.totalSize, digits.length);
      await apiError(
        member.artifacts.get(id, 'digits.txt', { range: { start: 16, end: 20 } }),
        416,
        'RANGE_NOT_SATISFIABLE',
      );
      await assert.rejects(member.artifacts.get(id, 'digits.txt', { range: { start: -1 } }), RangeError);
    });

    it('streams an upload: a body without end is cut off by the 413 past the cap, not buffered first', async () => {
      const id = await runAdhoc(server, { name: 'endless', steps: [{ id: 'make', type: 'noop' }] });
      await waitForExecution(server, id, ['completed']);
      let produced = 0;
      const limit = 100_000; // chunks: far past the cap, were it all read before sending
      const endless = (async function* () {
        while (produced < limit) {
          produced += 1;
          yield new Uint8Array(1024);
        }
      })();
      const refused = await member.artifacts.put(id, 'endless.bin', endless).then(
        () => assert.fail('expected a 413'),
        (error: unknown) => error,
      );
      // The server answers 413 and closes the connection; fetch reports either.
      if (refused instanceof WeftApiError) assert.equal(refused.code, 'PAYLOAD_TOO_LARGE');
      else assert.ok(refused instanceof TypeError, String(refused));
      assert.ok(produced < limit, `the body was read as it was sent (${produced} chunks)`);
      assert.deepEqual((await member.artifacts.list(id)).items, []);
    });
  });
}
