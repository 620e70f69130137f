import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventBus } from '../src/events/event-bus.js';
import { ExecutionEnds } from '../src/events/execution-ends.js';
import { createClient, ExecutionFailedError, ExecutionWaitTimeoutError, type WeftClient } from '../src/sdk/index.js';
import { assertProblem, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { waitForExecution, waitUntil } from './helpers/http-fixtures.js';

/**
 * Start and wait (docs/api.md): `?wait_seconds=N` on the start routes answers 200 with the final
 * execution when it ends within N seconds, else 202 as without it; the SDK's `startAndWait()` and
 * `result()` build on it.
 */

const FAILING = { name: 'Failing', steps: [{ id: 'bad', type: 'transform', input: { expression: '$error("boom")' } }] };
/** Ends only when it receives the signal `go` (its output is the signal's data). */
const WAITING = {
  name: 'Waiting',
  steps: [{ id: 'gate', type: 'wait_for_signal', input: { signal: 'go' } }],
  output: '{{ steps.gate.output }}',
};
const DELAYED = { name: 'Delayed', steps: [{ id: 'pause', type: 'delay', input: { seconds: 2 } }] };

for (const backend of testBackends()) {
  describe(`start and wait (${backend})`, () => {
    let server: TestServer;
    let client: WeftClient;
    const ids: Record<string, string> = {};

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 100 });
      client = createClient({ baseUrl: server.url, apiKey: server.adminKey });
      for (const [name, definition] of Object.entries({
        simple: simpleDefinition('Quick'),
        failing: FAILING,
        waiting: WAITING,
        delayed: DELAYED,
      })) {
        const created = await server.request('POST', '/workflows', { body: definition });
        assert.equal(created.status, 201, created.text);
        ids[name] = created.body.id;
      }
    });
    after(() => server.close());

    const start = (name: string, query: string, body: Record<string, unknown> = {}, headers = {}) =>
      server.request('POST', `/workflows/${ids[name]}/executions${query}`, { body, headers });
    const signal = (id: string, data: unknown) =>
      server.request('POST', `/executions/${id}/signals/go`, { body: { data } });
    const waitsOpen = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(/^weft_execution_waits (\S+)$/m.exec(text)?.[1]);
    };

    it('answers 200 with the completed execution, as GET /executions/{id} shows it', async () => {
      const answer = await start('simple', '?wait_seconds=20', { input: { value: 21 } });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.body.status, 'completed');
      assert.deepEqual(answer.body.output, { doubled: 42 });
      const read = await server.request('GET', `/executions/${answer.body.id}`);
      assert.deepEqual(answer.body, read.body);
      const adhoc = await server.request('POST', '/executions?wait_seconds=20', {
        body: { definition: simpleDefinition('Inline'), input: { value: 2 } },
      });
      assert.equal(adhoc.status, 200, adhoc.text);
      assert.deepEqual(adhoc.body.output, { doubled: 4 });
      assert.equal(adhoc.body.workflow_name, null);
    });

    it('answers 200 with status failed for a failed execution', async () => {
      const answer = await start('failing', '?wait_seconds=20');
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.body.status, 'failed');
      assert.match(JSON.stringify(answer.body.error), /boom/);
    });

    it('answers 202 when the execution outlasts wait_seconds, and 202 without it as before', async () => {
      const began = Date.now();
      const waited = await start('waiting', '?wait_seconds=1');
      assert.equal(waited.status, 202, waited.text);
      assert.equal(waited.body.status, 'running');
      assert.ok(Date.now() - began >= 900, 'it waited about the second it was given');
      const quick = await start('simple', '', { input: { value: 1 } });
      assert.equal(quick.status, 202, 'no wait_seconds: 202 as today');
      const none = await start('waiting', '?wait_seconds=0');
      assert.equal(none.status, 202);
      for (const id of [waited.body.id, none.body.id]) await signal(id, null);
    });

    it('waits across a durable timer: 202 first, then 200 for a repeat under the same key', async () => {
      const key = `delay-${backend}`;
      const first = await start('delayed', '?wait_seconds=1', {}, { 'idempotency-key': key });
      assert.equal(first.status, 202, first.text);
      const again = await start('delayed', '?wait_seconds=20', {}, { 'idempotency-key': key });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.id, first.body.id, 'the repeat waited on the first execution');
      assert.equal(again.body.status, 'completed');
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
    });

    it('wakes a waiting repeat as soon as the execution ends (signal, cancel)', async () => {
      const key = `signal-${backend}`;
      const first = await start('waiting', '', {}, { 'idempotency-key': key });
      assert.equal(first.status, 202);
      const waiting = start('waiting', '?wait_seconds=30', {}, { 'idempotency-key': key });
      await waitUntil(async () => (await waitsOpen()) === 1, 'the repeat to wait');
      const signalled = Date.now();
      assert.equal((await signal(first.body.id, { ok: true })).status, 202);
      const answer = await waiting;
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.body.output, { ok: true });
      // Told by the end event, not by the next periodic re-read a second later at most.
      assert.ok(Date.now() - signalled < 5000);

      const ended = await start('waiting', '', { idempotency_key: `cancel-${backend}` });
      const cancelling = server.request('POST', `/workflows/${ids.waiting}/executions?wait_seconds=30`, {
        body: { idempotency_key: `cancel-${backend}` },
      });
      await waitUntil(async () => (await waitsOpen()) === 1, 'the repeat to wait');
      await server.request('POST', `/executions/${ended.body.id}/cancel`);
      const answered = await cancelling;
      assert.equal(answered.status, 200, answered.text);
      assert.equal(answered.body.status, 'cancelled');
    });

    it('refuses wait_seconds outside 0..60 with a 400 at query/wait_seconds, starting nothing', async () => {
      const count = async () =>
        (await server.request('GET', `/workflows/${ids.simple}/executions?limit=200`)).body.items.length;
      const before = await count();
      for (const bad of ['61', '-1', '1.5', 'soon']) {
        const answer = await start('simple', `?wait_seconds=${bad}`, { input: { value: 1 } });
        assertProblem(answer, 400, 'VALIDATION_FAILED');
        assert.deepEqual(
          answer.body.errors.map((error: { path: string }) => error.path),
          ['query/wait_seconds'],
          bad,
        );
      }
      assertProblem(
        await server.request('POST', '/executions?wait_seconds=61', { body: { definition: simpleDefinition() } }),
        400,
        'VALIDATION_FAILED',
      );
      assert.equal(await count(), before);
    });

    it('stops waiting when the client leaves', async () => {
      const leaving = new AbortController();
      const request = fetch(`${server.url}/api/v1/workflows/${ids.waiting}/executions?wait_seconds=60`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
        body: '{}',
        signal: leaving.signal,
      });
      await waitUntil(async () => (await waitsOpen()) === 1, 'the start to wait');
      leaving.abort();
      await assert.rejects(request);
      await waitUntil(async () => (await waitsOpen()) === 0, 'the wait to stop');
    });

    it('wakes a waiter on the end event, and re-reads periodically without one', async () => {
      const bus = new EventBus(server.store, (error) => assert.fail(String(error)));
      try {
        // A re-read a minute apart: only the event can end this wait in time.
        const byEvent = new ExecutionEnds(bus, (error) => assert.fail(String(error)), 60_000);
        const started = await start('waiting', '');
        const workspaceId = (await server.request('GET', '/workspaces')).body.items[0].id;
        const read = () => server.store.executions.get(workspaceId, started.body.id);
        assert.equal((await read())?.status, 'running');
        const waiting = byEvent.waitFor(started.body.id, { read, until: Date.now() + 30_000 });
        await waitUntil(() => byEvent.waiting === 1, 'the waiter');
        const signalled = Date.now();
        await signal(started.body.id, null);
        assert.equal((await waiting)?.status, 'completed');
        assert.ok(Date.now() - signalled < 10_000);
        assert.equal(byEvent.waiting, 0);

        // No event ever comes for this one: the re-read sees the end.
        const byReading = new ExecutionEnds(bus, (error) => assert.fail(String(error)), 50);
        const endsAt = Date.now() + 300;
        const row = await byReading.waitFor('ex_not_announced', {
          read: async () => ({ status: Date.now() >= endsAt ? 'failed' : 'running' }),
          until: Date.now() + 10_000,
        });
        assert.equal(row?.status, 'failed');
        assert.ok(Date.now() - endsAt < 2000);

        // An abort ends a wait at once and leaves nothing behind.
        const abort = new AbortController();
        const aborted = byReading.waitFor('ex_never', {
          read: async () => ({ status: 'running' }),
          until: Date.now() + 60_000,
          signal: abort.signal,
        });
        abort.abort();
        assert.equal((await aborted)?.status, 'running');
        assert.equal(byReading.waiting, 0);
      } finally {
        await bus.close();
      }
    });

    it('SDK: startAndWait resolves to the completed execution and throws for a failed one', async () => {
      const completed = await client.executions.startAndWait(ids.simple ?? '', { input: { value: 5 } });
      assert.equal(completed.status, 'completed');
      assert.deepEqual(completed.output, { doubled: 10 });
      const failure = await client.executions.startAndWait(ids.failing ?? '').catch((error: unknown) => error);
      assert.ok(failure instanceof ExecutionFailedError, String(failure));
      assert.equal(failure.status, 'failed');
      assert.equal(failure.execution.status, 'failed');
      assert.match(failure.message, /boom/);
      const late = await client.executions
        .startAndWait(ids.waiting ?? '', {}, { timeoutSeconds: 1 })
        .catch((error: unknown) => error);
      assert.ok(late instanceof ExecutionWaitTimeoutError, String(late));
      assert.equal(late.execution.status, 'running');
      await signal(late.execution.id, null);
    });

    it('SDK: startAndWait repeats its start in slices, on the one execution', async () => {
      const posts: string[] = [];
      // Slices of one second instead of sixty, so that the test sees several.
      const sliced = createClient({
        baseUrl: server.url,
        apiKey: server.adminKey,
        fetch: (request) => {
          if (request.method !== 'POST') return fetch(request);
          const url = new URL(request.url);
          url.searchParams.set('wait_seconds', '1');
          posts.push(url.search);
          return fetch(new Request(url, request));
        },
      });
      const before = (await server.request('GET', `/workflows/${ids.waiting}/executions?limit=200`)).body.items;
      const waiting = sliced.executions.startAndWait(ids.waiting ?? '', { reference: `sliced-${backend}` });
      await waitUntil(() => posts.length >= 3, 'three slices', 15_000);
      const listed = await server.request('GET', `/executions?reference=sliced-${backend}`);
      assert.equal(listed.body.items.length, 1, 'one execution for every slice');
      await signal(listed.body.items[0].id, 'done');
      const execution = await waiting;
      assert.equal(execution.status, 'completed');
      assert.equal(execution.output, 'done');
      const afterwards = (await server.request('GET', `/workflows/${ids.waiting}/executions?limit=200`)).body.items;
      assert.equal(afterwards.length, before.length + 1);
    });

    it('SDK: result() waits for an existing execution; a cancelled one throws with it', async () => {
      const started = await client.executions.start(ids.waiting ?? '');
      const waiting = client.executions.result(started.id, { timeoutSeconds: 20 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await signal(started.id, 7);
      const execution = await waiting;
      assert.equal(execution.status, 'completed');
      assert.equal(execution.output, 7);
      assert.ok(Array.isArray(execution.steps));

      const other = await client.executions.start(ids.waiting ?? '');
      const ending = client.executions.result(other.id).catch((error: unknown) => error);
      await client.executions.cancel(other.id);
      const failure = await ending;
      assert.ok(failure instanceof ExecutionFailedError, String(failure));
      assert.equal(failure.status, 'cancelled');
      assert.equal(failure.execution.id, other.id);

      const still = await client.executions.start(ids.waiting ?? '');
      const late = await client.executions.result(still.id, { timeoutSeconds: 0.3 }).catch((error: unknown) => error);
      assert.ok(late instanceof ExecutionWaitTimeoutError, String(late));
      await client.executions.cancel(still.id);
      await waitForExecution(server, still.id, ['cancelled']);
    });
  });
}
