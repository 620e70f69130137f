import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { retentionCutoff, SIGHTING_INTERVAL_MS, WorkerSightings } from '../src/workers/worker-sightings.js';
import { assertProblem, createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, waitUntil } from './helpers/http-fixtures.js';

/**
 * Workers seen recently (`GET /workers`) and the queue depth of declared task types
 * (`queued`/`running` on `GET /task-types`), over HTTP as the web UI's workers view reads them.
 */

interface WorkerItem {
  worker_id: string;
  types: string[];
  key_id: string | null;
  key_name: string | null;
  first_seen_at: string;
  last_poll_at: string;
  active: boolean;
}

const MINUTE = 60_000;

for (const backend of testBackends()) {
  describe(`workers seen recently (${backend})`, () => {
    let server: TestServer;
    let workerKey: string;
    let workerKeyId: string;
    let workspaceB: string;

    const poll = (workerId: string, types: string[], key = workerKey, headers: Record<string, string> = {}) =>
      server.request('POST', '/tasks/poll', { key, headers, body: { worker_id: workerId, types } });
    const listed = async (query = '') => {
      const response = await server.request('GET', `/workers${query}`);
      assert.equal(response.status, 200, response.text);
      return response.body as { items: WorkerItem[]; next_cursor: string | null };
    };

    before(async () => {
      server = await startTestServer(backend);
      workerKey = await createKey(server, 'worker');
      const keys = await server.request('GET', '/api-keys');
      workerKeyId = keys.body.items.find((key: { role: string }) => key.role === 'worker').id;
      workspaceB = (await server.request('POST', '/workspaces', { body: { slug: 'seen-b', name: 'B' } })).body.id;
      for (const type of ['img.resize', 'img.crop', 'text.count']) {
        await server.request('PUT', `/task-types/${type}`, { body: {} });
      }
    });
    after(() => server.close());

    it('lists a worker after its first poll, even one that got no task', async () => {
      const before = Date.now();
      const polled = await poll('resizer-1', ['img.resize', 'img.crop', 'img.resize']);
      assert.deepEqual(polled.body, { tasks: [] });
      const [worker, ...others] = (await listed()).items;
      assert.equal(others.length, 0);
      assert.ok(worker);
      assert.deepEqual(worker, {
        worker_id: 'resizer-1',
        types: ['img.resize', 'img.crop'],
        key_id: workerKeyId,
        key_name: 'worker key',
        first_seen_at: worker.first_seen_at,
        last_poll_at: worker.first_seen_at,
        active: true,
      });
      assert.ok(Date.parse(worker.last_poll_at) >= before - 1000 && Date.parse(worker.last_poll_at) <= Date.now());
    });

    it('records a long poll when it starts, not when it answers', async () => {
      const waiting = server.request('POST', '/tasks/poll', {
        key: workerKey,
        body: { worker_id: 'long-poller', types: ['text.count'], wait_seconds: 3 },
      });
      await waitUntil(
        async () => (await listed()).items.some((item) => item.worker_id === 'long-poller'),
        'the long poll to be listed while it waits',
        2500,
      );
      assert.deepEqual((await waiting).body, { tasks: [] });
    });

    it('writes a worker at most once per interval per process', async () => {
      const first = (await listed()).items.find((item) => item.worker_id === 'resizer-1');
      await poll('resizer-1', ['img.crop']);
      const again = (await listed()).items.find((item) => item.worker_id === 'resizer-1');
      // Within the interval the second poll wrote nothing: neither its types nor its time.
      assert.deepEqual(again, first);

      // The rule itself, on a clock of its own: a write, none within the interval, one after it.
      // Ten minutes ago: a clock ahead of the real one would prune every worker it finds older than 7 days before it.
      const start = Date.now() - 10 * MINUTE;
      const startIso = new Date(start).toISOString();
      let now = start;
      const errors: unknown[] = [];
      const sightings = new WorkerSightings(
        server.store,
        (error) => errors.push(error),
        () => now,
      );
      const sighting = { workspaceId: workspaceB, workerId: 'clocked', types: ['x.y'], keyId: null };
      const rowOf = async () =>
        (await server.store.workers.list(workspaceB, { seenSince: '' }, { limit: 10 })).items.find(
          (item) => item.worker_id === 'clocked',
        );
      await sightings.seen(sighting);
      assert.equal((await rowOf())?.last_poll_at, startIso);
      now += SIGHTING_INTERVAL_MS - 1;
      await sightings.seen({ ...sighting, types: ['x.z'] });
      assert.equal((await rowOf())?.last_poll_at, startIso);
      assert.equal((await rowOf())?.types, '["x.y"]');
      now += 1;
      await sightings.seen({ ...sighting, types: ['x.z'] });
      const row = await rowOf();
      assert.equal(row?.last_poll_at, new Date(now).toISOString());
      assert.equal(row?.first_seen_at, startIso);
      assert.equal(row?.types, '["x.z"]');
      assert.deepEqual(errors, []);
      // A write from another process that lands late never moves the poll time back.
      await server.store.workers.record([{ ...sighting, types: ['old'], at: new Date(start + 1).toISOString() }]);
      assert.equal((await rowOf())?.types, '["x.z"]');
    });

    it('does not record a poll the server refused', async () => {
      const refused = await poll('confused', ['noop']);
      assertProblem(refused, 400, 'VALIDATION_FAILED');
      assert.equal(
        (await listed()).items.some((item) => item.worker_id === 'confused'),
        false,
      );
    });

    it('filters by active, pages newest poll first, and hides workers silent for 7 days', async () => {
      const at = (ago: number) => new Date(Date.now() - ago).toISOString();
      const workspaces = (await server.request('GET', '/workspaces')).body.items as Array<{ id: string }>;
      const workspaceId = workspaces.find((workspace) => workspace.id !== workspaceB)?.id ?? '';
      await server.store.workers.record([
        { workspaceId, workerId: 'quiet', types: ['img.crop'], keyId: null, at: at(2 * MINUTE) },
        { workspaceId, workerId: 'gone', types: ['img.crop'], keyId: null, at: at(8 * 24 * 60 * MINUTE) },
      ]);
      const all = await listed();
      assert.deepEqual(
        all.items.map((item) => [item.worker_id, item.active]),
        [
          ['long-poller', true],
          ['resizer-1', true],
          ['quiet', false],
        ],
      );
      const quiet = all.items[2];
      assert.equal(quiet?.key_id, null);
      assert.equal(quiet?.key_name, null);
      assert.deepEqual(
        (await listed('?active=true')).items.map((item) => item.worker_id),
        ['long-poller', 'resizer-1'],
      );
      assert.deepEqual(
        (await listed('?active=false')).items.map((item) => item.worker_id),
        ['quiet'],
      );

      const pages: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await listed(`?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        assert.ok(page.items.length <= 1);
        pages.push(...page.items.map((item) => item.worker_id));
        cursor = page.next_cursor;
      } while (cursor);
      assert.deepEqual(pages, ['long-poller', 'resizer-1', 'quiet']);
      assertProblem(await server.request('GET', '/workers?cursor=bm9wZQ'), 400, 'VALIDATION_FAILED');

      // A process prunes the silent ones (the first sighting it records does, then hourly).
      const sightings = new WorkerSightings(server.store, () => undefined);
      await sightings.seen({ workspaceId, workerId: 'pruner', types: ['img.crop'], keyId: null });
      const kept = await server.store.workers.list(workspaceId, { seenSince: '' }, { limit: 50 });
      assert.equal(
        kept.items.some((item) => item.worker_id === 'gone'),
        false,
      );
      assert.ok(kept.items.every((item) => item.last_poll_at >= retentionCutoff(Date.now())));
    });

    it('is for admin and member keys, and shows only the workspace of the key', async () => {
      assertProblem(await server.request('GET', '/workers', { key: workerKey }), 403, 'FORBIDDEN');
      const member = await createKey(server, 'member');
      const asMember = await server.request('GET', '/workers', { key: member });
      assert.equal(asMember.status, 200, asMember.text);
      assert.ok(asMember.body.items.length >= 3);

      const workerOfB = await createKey(server, 'worker', workspaceB);
      await server.request('PUT', '/task-types/b.only', { body: {}, headers: { 'x-workspace-id': workspaceB } });
      assert.equal((await poll('b-secret-worker', ['b.only'], workerOfB)).status, 200);
      const inA = await server.request('GET', '/workers', { key: member });
      assert.equal(inA.text.includes('b-secret-worker'), false);
      const inB = await server.request('GET', '/workers', { headers: { 'x-workspace-id': workspaceB } });
      assert.deepEqual(
        inB.body.items.map((item: WorkerItem) => item.worker_id),
        ['b-secret-worker', 'clocked'],
      );
    });
  });

  describe(`queue depth per task type (${backend})`, () => {
    let server: TestServer;
    let workerKey: string;
    let workspaceB: string;
    const inB = () => ({ 'x-workspace-id': workspaceB });

    const depthOf = async (type: string, headers: Record<string, string> = {}) => {
      const list = await server.request('GET', '/task-types', { headers });
      assert.equal(list.status, 200, list.text);
      const item = list.body.items.find((candidate: { type: string }) => candidate.type === type);
      const one = await server.request('GET', `/task-types/${type}`, { headers });
      assert.equal(one.status, 200, one.text);
      assert.deepEqual(
        { queued: one.body.queued, running: one.body.running },
        { queued: item.queued, running: item.running },
      );
      return { queued: item.queued, running: item.running };
    };

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      workerKey = await createKey(server, 'worker');
      workspaceB = (await server.request('POST', '/workspaces', { body: { slug: 'depth-b', name: 'B' } })).body.id;
      await server.request('PUT', '/task-types/q.work', { body: {} });
      await server.request('PUT', '/task-types/q.idle', { body: {} });
      await server.request('PUT', '/task-types/q.work', { body: {}, headers: inB() });
    });
    after(() => server.close());

    it('counts steps and items waiting for a worker and those a worker holds', async () => {
      assert.deepEqual(await depthOf('q.work'), { queued: 0, running: 0 });
      const builtin = (await server.request('GET', '/task-types/noop')).body;
      assert.deepEqual({ queued: builtin.queued, running: builtin.running }, { queued: null, running: null });

      // A `for_each` step of a worker type waits for a poll, which lays out its items (handing out none).
      await runAdhoc(server, {
        name: 'items',
        steps: [{ id: 'each', type: 'q.work', for_each: '{{ [1, 2, 3] }}', concurrency: 2 }],
      });
      await waitUntil(async () => (await depthOf('q.work')).queued === 1, 'the for_each step');
      const laidOut = await server.request('POST', '/tasks/poll', {
        key: workerKey,
        body: { worker_id: 'depth', types: ['q.work'] },
      });
      assert.deepEqual(laidOut.body, { tasks: [] });
      // Three items, at most two out at once: two are queued, the third waits its turn (not counted).
      assert.deepEqual(await depthOf('q.work'), { queued: 2, running: 0 });

      const single = { name: 'one step', steps: [{ id: 'work', type: 'q.work' }] };
      const ids = [await runAdhoc(server, single), await runAdhoc(server, single), await runAdhoc(server, single)];
      await waitUntil(async () => (await depthOf('q.work')).queued === 5, 'three queued steps beside the items');
      // Another workspace's queue of the same type name is its own.
      await server.request('POST', '/executions', { body: { definition: single }, headers: inB() });
      await waitUntil(async () => (await depthOf('q.work', inB())).queued === 1, "B's step");
      assert.deepEqual(await depthOf('q.work'), { queued: 5, running: 0 });

      const polled = await server.request('POST', '/tasks/poll', {
        key: workerKey,
        body: { worker_id: 'depth', types: ['q.work'], max_tasks: 2 },
      });
      // A poll hands out due steps before items.
      assert.deepEqual(
        polled.body.tasks.map((task: { index: number | null }) => task.index),
        [null, null],
        polled.text,
      );
      assert.deepEqual(await depthOf('q.work'), { queued: 3, running: 2 });
      assert.deepEqual(await depthOf('q.idle'), { queued: 0, running: 0 });

      // A paused execution's queued step waits for the resume, not for a worker.
      const held = new Set(polled.body.tasks.map((task: { execution_id: string }) => task.execution_id));
      const stillQueued = ids.find((id) => !held.has(id));
      assert.ok(stillQueued);
      const paused = await server.request('POST', `/executions/${stillQueued}/pause`, { body: {} });
      assert.equal(paused.status, 200, paused.text);
      assert.deepEqual(await depthOf('q.work'), { queued: 2, running: 2 });
    });
  });
}
