import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, createKey, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';

/**
 * Tenant isolation: a key of workspace A gets 404 on every route that names an object of
 * workspace B. The routes come from the server's OpenAPI document, so a new route with an `{id}`
 * is covered as soon as it exists (and fails here until the test knows which object it names).
 */

/** A request body that would be accepted if the object were visible, so only the 404 can fail it. */
function bodyFor(method: string, path: string): unknown {
  if (method === 'PUT' && path.startsWith('/workflows/')) return simpleDefinition('Taken over');
  if (method === 'PATCH' && path.startsWith('/workflows/')) return { name: 'Taken over' };
  if (method === 'PATCH' && path.startsWith('/webhooks/')) return { url: 'http://127.0.0.1:9/taken-over' };
  if (path.endsWith('/fail')) return { error: { message: 'taken over' } };
  if (path.endsWith('/executions/batch')) return { executions: [{ input: { value: 1 } }] };
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') return {};
  return undefined;
}

for (const backend of testBackends()) {
  describe(`tenant isolation (${backend})`, () => {
    let server: TestServer;
    /** Objects of workspace B, by the path prefix of the routes that name them. */
    const objectsOfB: Record<string, string> = {};
    let keysOfA: Record<string, string> = {};

    before(async () => {
      server = await startTestServer(backend);
      const workspaceB = await server.request('POST', '/workspaces', { body: { slug: 'tenant-b', name: 'B' } });
      const inB = { 'x-workspace-id': workspaceB.body.id };
      const workflow = await server.request('POST', '/workflows', {
        body: simpleDefinition('Secret of B'),
        headers: inB,
      });
      objectsOfB['/workflows/'] = workflow.body.id;
      const execution = await server.request('POST', `/workflows/${workflow.body.id}/executions`, {
        body: { input: { value: 1 } },
        headers: inB,
      });
      objectsOfB['/executions/'] = execution.body.id;
      const key = await server.request('POST', '/api-keys', { body: { name: 'b key', role: 'member' }, headers: inB });
      objectsOfB['/api-keys/'] = key.body.id;
      const webhook = await server.request('POST', '/webhooks', {
        body: { url: 'http://127.0.0.1:9/b' },
        headers: inB,
      });
      objectsOfB['/webhooks/'] = webhook.body.id;
      // A task of B: a declared type, a step of it, and a poll by B's worker.
      await server.request('PUT', '/task-types/b.secret', { body: {}, headers: inB });
      await server.request('POST', '/executions', {
        body: { definition: { name: 'B task', steps: [{ id: 'work', type: 'b.secret' }] } },
        headers: inB,
      });
      const polled = await server.request('POST', '/tasks/poll', {
        body: { worker_id: 'b-worker', types: ['b.secret'], wait_seconds: 5 },
        headers: inB,
      });
      objectsOfB['/tasks/'] = polled.body.tasks[0]?.id;
      const event = await server.request('POST', '/events', { body: { type: 'b.happened', data: {} }, headers: inB });
      objectsOfB['/events/'] = event.body.event_id;
      keysOfA = {
        owner: server.adminKey,
        admin: await createKey(server, 'admin'),
        member: await createKey(server, 'member'),
      };
    });
    after(() => server.close());

    it("answers 404 on every route naming one of B's objects", async () => {
      const spec = await server.request('GET', '!/openapi.json', { key: null });
      let checked = 0;
      for (const [fullPath, methods] of Object.entries(spec.body.paths as Record<string, object>)) {
        if (!fullPath.startsWith('/api/v1/') || !fullPath.includes('{id}')) continue;
        const path = fullPath.slice('/api/v1'.length);
        const prefix = Object.keys(objectsOfB).find((candidate) => path.startsWith(candidate));
        assert.ok(prefix, `the test has no object of workspace B for ${path}: add one`);
        for (const method of Object.keys(methods).map((name) => name.toUpperCase())) {
          for (const [role, key] of Object.entries(keysOfA)) {
            if (role === 'member' && path.startsWith('/api-keys/')) continue; // members get 403 on key routes
            // Other path parameters (a step id, a signal name) get a valid value: B's id is what is probed.
            const concrete = path.replace('{id}', objectsOfB[prefix] ?? '').replace(/\{[a-z_]+\}/g, 'probe');
            const response = await server.request(method, concrete, { key, body: bodyFor(method, path) });
            assertProblem(response, 404, 'NOT_FOUND');
            checked += 1;
          }
        }
      }
      assert.ok(checked >= 7, `checked ${checked} route/key pairs`);
    });

    it("never lists B's objects to A, and B's object is unchanged", async () => {
      for (const key of Object.values(keysOfA)) {
        const workflows = await server.request('GET', '/workflows?include_deleted=true', { key });
        assert.equal(workflows.text.includes(objectsOfB['/workflows/'] ?? 'missing'), false);
      }
      const keys = await server.request('GET', '/api-keys');
      assert.equal(keys.text.includes(objectsOfB['/api-keys/'] ?? 'missing'), false);
      const stillThere = await server.request('GET', `/workflows/${objectsOfB['/workflows/']}`, {
        headers: { 'x-workspace-slug': 'tenant-b' },
      });
      assert.equal(stillThere.status, 200);
      assert.equal(stillThere.body.name, 'Secret of B');
      assert.equal(stillThere.body.deleted_at, null);
    });

    it("keeps B's task types and tasks from A's workers", async () => {
      assert.ok(objectsOfB['/tasks/'], 'B has a task');
      const types = await server.request('GET', '/task-types');
      assert.equal(types.status, 200);
      assert.equal(types.text.includes('b.secret'), false);
      assertProblem(await server.request('GET', '/task-types/b.secret'), 404, 'NOT_FOUND');
      const worker = await createKey(server, 'worker');
      const polled = await server.request('POST', '/tasks/poll', {
        key: worker,
        body: { worker_id: 'a-worker', types: ['b.secret'] },
      });
      assert.deepEqual(polled.body, { tasks: [] });
      // B's worker still holds its lease: A's calls above changed nothing.
      const beat = await server.request('POST', `/tasks/${objectsOfB['/tasks/']}/heartbeat`, {
        headers: { 'x-workspace-slug': 'tenant-b' },
      });
      assert.equal(beat.status, 200, beat.text);
      assert.equal(beat.body.cancel_requested, false);
    });
  });
}
