import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashApiKey } from '../src/auth/api-key-secrets.js';
import { ADMIN_KEY_FILE, bootstrapWorkspace } from '../src/auth/bootstrap.js';
import { assertProblem, createKey, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { createTestDatabase, postgresOnly, testBackends } from './helpers/backends.js';

/** Every documented `/api/v1` operation, read from the server's own OpenAPI document. */
async function apiOperations(server: TestServer): Promise<Array<{ method: string; path: string; tags: string[] }>> {
  const spec = await server.request('GET', '!/openapi.json', { key: null });
  const operations: Array<{ method: string; path: string; tags: string[] }> = [];
  for (const [path, methods] of Object.entries(
    spec.body.paths as Record<string, Record<string, { tags?: string[] }>>,
  )) {
    if (!path.startsWith('/api/v1/')) continue;
    for (const [method, operation] of Object.entries(methods)) {
      operations.push({ method: method.toUpperCase(), path: path.slice('/api/v1'.length), tags: operation.tags ?? [] });
    }
  }
  return operations;
}

for (const backend of testBackends()) {
  describe(`authentication and roles (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(() => server.close());

    it('answers 401 on every API route without a key, with a wrong key or a malformed header', async () => {
      const operations = await apiOperations(server);
      assert.ok(operations.length >= 10, 'the OpenAPI document lists the API routes');
      for (const { method, path } of operations) {
        const concrete = path.replace('{id}', 'some_id');
        const anonymous = await server.request(method, concrete, { key: null });
        assertProblem(anonymous, 401, 'UNAUTHORIZED');
        // RFC 9110: a 401 names the scheme it accepts.
        assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="weft"', `${method} ${path}`);
        const wrong = await server.request(method, concrete, { key: 'weft_not-a-real-key' });
        assertProblem(wrong, 401, 'UNAUTHORIZED');
        assert.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="weft"');
        const basic = await server.request(method, concrete, {
          key: null,
          headers: { authorization: 'Basic dXNlcjpwYXNz' },
        });
        assertProblem(basic, 401, 'UNAUTHORIZED');
      }
    });

    it('answers 403 to a worker key on every workflow route', async () => {
      const workerKey = await createKey(server, 'worker');
      const operations = (await apiOperations(server)).filter((operation) => operation.tags.includes('workflows'));
      assert.ok(operations.length >= 8);
      for (const { method, path } of operations) {
        const response = await server.request(method, path.replace('{id}', 'wf_x'), {
          key: workerKey,
          body: method === 'GET' || method === 'DELETE' ? undefined : {},
        });
        assertProblem(response, 403, 'FORBIDDEN');
      }
    });

    it('keeps API keys to admins and workspace creation to the owner', async () => {
      const memberKey = await createKey(server, 'member');
      assertProblem(await server.request('GET', '/api-keys', { key: memberKey }), 403, 'FORBIDDEN');
      assertProblem(
        await server.request('POST', '/api-keys', { key: memberKey, body: { name: 'x', role: 'admin' } }),
        403,
        'FORBIDDEN',
      );
      assertProblem(
        await server.request('POST', '/workspaces', { key: memberKey, body: { slug: 'nope', name: 'x' } }),
        403,
        'FORBIDDEN',
      );
      const own = await server.request('GET', '/workspaces', { key: memberKey });
      assert.deepEqual(
        own.body.items.map((workspace: { slug: string }) => workspace.slug),
        ['default'],
      );
      assert.equal(
        (await server.request('POST', '/workflows', { key: memberKey, body: simpleDefinition('by member') })).status,
        201,
      );
    });

    it('stops accepting a key deleted by another process within a second', async () => {
      const created = await server.request('POST', '/api-keys', { body: { name: 'elsewhere', role: 'member' } });
      assert.equal(created.status, 201, created.text);
      assert.equal((await server.request('GET', '/workflows', { key: created.body.key })).status, 200);
      // Another process on the same database: its own store, as `weft serve` beside this one.
      const other = server.database.open();
      try {
        assert.equal(await other.apiKeys.delete(created.body.workspace_id, created.body.id), true);
      } finally {
        await other.close();
      }
      const deletedAt = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - deletedAt < 3000) {
        status = (await server.request('GET', '/workflows', { key: created.body.key })).status;
        if (status === 200) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(status, 401, 'the deleted key is refused');
      assert.ok(
        Date.now() - deletedAt < 1500,
        `refused ${Date.now() - deletedAt} ms after the delete (bound 1 s + a poll)`,
      );
    });

    it('creates keys shown once, lists them without secrets, revokes them', async () => {
      const created = await server.request('POST', '/api-keys', { body: { name: 'ci', role: 'member' } });
      assert.equal(created.status, 201);
      assert.match(created.body.key, /^weft_/);
      assert.equal(created.body.prefix, created.body.key.slice(0, 8));
      assert.equal((await server.request('GET', '/workflows', { key: created.body.key })).status, 200);
      let list = await server.request('GET', '/api-keys');
      const deadline = Date.now() + 5000;
      while (
        !list.body.items.find((item: { id: string }) => item.id === created.body.id).last_used_at &&
        Date.now() < deadline
      ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        list = await server.request('GET', '/api-keys');
      }
      const listed = list.body.items.find((item: { id: string }) => item.id === created.body.id);
      assert.equal(listed.name, 'ci');
      assert.ok(listed.last_used_at, 'the use of the key is recorded');
      assert.equal(list.text.includes(created.body.key), false, 'the raw key is never listed');
      assert.equal(list.text.includes(hashApiKey(created.body.key)), false, 'nor its hash');
      assert.equal((await server.request('DELETE', `/api-keys/${created.body.id}`)).status, 204);
      assertProblem(await server.request('GET', '/workflows', { key: created.body.key }), 401, 'UNAUTHORIZED');
      assertProblem(await server.request('DELETE', `/api-keys/${created.body.id}`), 404, 'NOT_FOUND');
      assertProblem(
        await server.request('POST', '/api-keys', { body: { name: 'x', role: 'root' } }),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('refuses to let a key revoke itself', async () => {
      const adminKey = await createKey(server, 'admin');
      const list = await server.request('GET', '/api-keys', { key: adminKey });
      const self = list.body.items.find((item: { prefix: string }) => item.prefix === adminKey.slice(0, 8));
      assertProblem(await server.request('DELETE', `/api-keys/${self.id}`, { key: adminKey }), 409, 'CONFLICT');
    });

    it('lets the owner key act on other workspaces by id or slug, and nobody else', async () => {
      const workspace = await server.request('POST', '/workspaces', {
        body: { slug: 'other-team', name: 'Other team' },
      });
      assert.equal(workspace.status, 201);
      assertProblem(
        await server.request('POST', '/workspaces', { body: { slug: 'other-team', name: 'Again' } }),
        409,
        'CONFLICT',
      );
      assertProblem(
        await server.request('POST', '/workspaces', { body: { slug: 'Bad Slug', name: 'x' } }),
        400,
        'VALIDATION_FAILED',
      );
      const byId = { 'x-workspace-id': workspace.body.id };
      const created = await server.request('POST', '/workflows', {
        body: simpleDefinition('In other team'),
        headers: byId,
      });
      assert.equal(created.body.workspace_id, workspace.body.id);
      const bySlug = await server.request('GET', `/workflows/${created.body.id}`, {
        headers: { 'x-workspace-slug': 'other-team' },
      });
      assert.equal(bySlug.status, 200);
      assertProblem(await server.request('GET', `/workflows/${created.body.id}`), 404, 'NOT_FOUND');
      assertProblem(
        await server.request('GET', '/workflows', { headers: { 'x-workspace-id': 'ws_nope' } }),
        404,
        'NOT_FOUND',
      );
      const memberKey = await createKey(server, 'member');
      assertProblem(await server.request('GET', '/workflows', { key: memberKey, headers: byId }), 403, 'FORBIDDEN');
      const adminOfDefault = await createKey(server, 'admin');
      assertProblem(
        await server.request('GET', '/workflows', { key: adminOfDefault, headers: byId }),
        403,
        'FORBIDDEN',
      );
      assertProblem(
        await server.request('GET', '/workflows', {
          key: adminOfDefault,
          headers: { 'x-workspace-slug': 'other-team' },
        }),
        403,
        'FORBIDDEN',
      );
      const otherKey = await createKey(server, 'member', workspace.body.id);
      const theirs = await server.request('GET', '/workflows', { key: otherKey });
      assert.deepEqual(
        theirs.body.items.map((item: { id: string }) => item.id),
        [created.body.id],
      );
      const all = await server.request('GET', '/workspaces');
      assert.ok(all.body.items.some((item: { slug: string }) => item.slug === 'other-team'));
    });
  });

  describe(`bootstrap (${backend})`, () => {
    it('creates the default workspace and an owner key once, in a 0600 file in a 0700 folder', async () => {
      const database = await createTestDatabase(backend);
      const store = database.open();
      try {
        await store.migrate();
        const first = await bootstrapWorkspace(store, { dataDir: database.config.dataDir, adminKey: undefined });
        assert.equal(first.createdWorkspace?.slug, 'default');
        const file = path.join(database.config.dataDir, ADMIN_KEY_FILE);
        assert.equal(first.keyFile, file);
        assert.equal(statSync(file).mode & 0o777, 0o600);
        const raw = readFileSync(file, 'utf8').trim();
        assert.equal(raw, first.generatedKey);
        const found = await store.apiKeys.findByHash(hashApiKey(raw));
        assert.equal(found?.key.role, 'owner');
        assert.equal(statSync(database.config.dataDir).mode & 0o777, 0o700);
        const second = await bootstrapWorkspace(store, { dataDir: database.config.dataDir, adminKey: undefined });
        assert.equal(second.createdWorkspace, undefined);
        assert.equal(second.generatedKey, undefined);
        const operatorKey = 'operator-chosen-key-0123456789abcdef';
        await bootstrapWorkspace(store, { dataDir: database.config.dataDir, adminKey: operatorKey });
        const operator = await store.apiKeys.findByHash(hashApiKey(operatorKey));
        assert.equal(operator?.workspace.slug, 'default');
        assert.equal(operator?.key.role, 'owner');
        assert.equal(operator?.key.prefix, 'operator', 'at most 8 characters of a chosen key are shown');
        await assert.rejects(
          bootstrapWorkspace(store, { dataDir: database.config.dataDir, adminKey: 'only-31-characters-long-0123456' }),
          (error: Error) => /WEFT_ADMIN_KEY must be at least 32 characters long \(it has 31\)/.test(error.message),
        );
        assert.equal(await store.workspaces.count(), 1);
      } finally {
        await store.close();
        await database.drop();
      }
    });

    const concurrency = postgresOnly(backend, 'one process owns a SQLite file');
    it('is safe when several processes bootstrap the same database at once', concurrency, async () => {
      const database = await createTestDatabase(backend);
      const stores = [database.open(), database.open(), database.open()];
      try {
        await stores[0]?.migrate();
        const results = await Promise.all(
          stores.map((store) => bootstrapWorkspace(store, { dataDir: database.config.dataDir, adminKey: undefined })),
        );
        assert.equal(results.filter((result) => result.createdWorkspace).length, 1);
        assert.equal(await stores[0]?.workspaces.count(), 1);
      } finally {
        for (const store of stores) await store.close();
        await database.drop();
      }
    });
  });
}
