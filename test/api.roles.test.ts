import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashApiKey } from '../src/auth/api-key-secrets.js';
import { bootstrapWorkspace } from '../src/auth/bootstrap.js';
import { assertProblem, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { createTestDatabase, testBackends } from './helpers/backends.js';
import { openStream } from './helpers/stream-client.js';

/**
 * Roles across workspaces (issue 9, item 12): only the instance's `owner` key acts on other
 * workspaces and creates them; an `admin` is everything within its own workspace and nothing
 * outside it; migration 0007 makes the bootstrap key of an older database the owner.
 */

for (const backend of testBackends()) {
  describe(`owner and admin roles (${backend})`, () => {
    let server: TestServer;
    const a = { id: '', admin: '', workflow: '', execution: '', webhook: '', secret: '' };
    const b = { id: '', admin: '' };

    /** A key of `role` in `workspaceId`, created by the owner. */
    async function keyIn(workspaceId: string, role: string): Promise<{ id: string; key: string }> {
      const created = await server.request('POST', '/api-keys', {
        body: { name: `${role} key`, role },
        headers: { 'x-workspace-id': workspaceId },
      });
      assert.equal(created.status, 201, created.text);
      return { id: created.body.id, key: created.body.key };
    }

    before(async () => {
      server = await startTestServer(backend);
      const inA = (await server.request('POST', '/workspaces', { body: { slug: 'team-a', name: 'A' } })).body;
      const inB = (await server.request('POST', '/workspaces', { body: { slug: 'team-b', name: 'B' } })).body;
      a.id = inA.id;
      b.id = inB.id;
      a.admin = (await keyIn(a.id, 'admin')).key;
      b.admin = (await keyIn(b.id, 'admin')).key;
      const workflow = await server.request('POST', '/workflows', { key: a.admin, body: simpleDefinition('Of A') });
      a.workflow = workflow.body.id;
      const execution = await server.request('POST', `/workflows/${a.workflow}/executions`, {
        key: a.admin,
        body: { input: { value: 1 } },
      });
      a.execution = execution.body.id;
      const webhook = await server.request('POST', '/webhooks', {
        key: a.admin,
        body: { url: 'http://127.0.0.1:9/a' },
      });
      a.webhook = webhook.body.id;
      const secret = await server.request('GET', '/webhooks/signing-secret', { key: a.admin });
      assert.equal(secret.status, 200, secret.text);
      a.secret = JSON.stringify(secret.body);
    });
    after(() => server.close());

    it("refuses B's admin every way into A: headers are 403, A's objects 404", async () => {
      const named: Array<Record<string, string>> = [{ 'x-workspace-id': a.id }, { 'x-workspace-slug': 'team-a' }];
      for (const headers of named) {
        for (const [method, path] of [
          ['GET', `/executions/${a.execution}`],
          ['GET', '/executions'],
          ['GET', '/webhooks/signing-secret'],
          ['GET', '/api-keys'],
        ] as const) {
          assertProblem(await server.request(method, path, { key: b.admin, headers }), 403, 'FORBIDDEN');
        }
        const key = await server.request('POST', '/api-keys', {
          key: b.admin,
          headers,
          body: { name: 'into A', role: 'admin' },
        });
        assertProblem(key, 403, 'FORBIDDEN');
      }
      // Naming a workspace that does not exist answers the same: nothing tells B which ones do.
      const missing = await server.request('GET', '/executions', {
        key: b.admin,
        headers: { 'x-workspace-id': 'ws_x' },
      });
      assertProblem(missing, 403, 'FORBIDDEN');
      assertProblem(await server.request('GET', `/executions/${a.execution}`, { key: b.admin }), 404, 'NOT_FOUND');
      assertProblem(
        await server.request('GET', `/workflows/${a.workflow}/metrics`, { key: b.admin }),
        404,
        'NOT_FOUND',
      );
      assertProblem(await server.request('GET', `/webhooks/${a.webhook}`, { key: b.admin }), 404, 'NOT_FOUND');
      const bSecret = await server.request('GET', '/webhooks/signing-secret', { key: b.admin });
      assert.equal(bSecret.status, 200);
      assert.notEqual(JSON.stringify(bSecret.body), a.secret, "B's admin reads B's own secret, never A's");
      const listed = await server.request('GET', '/executions', { key: b.admin });
      assert.equal(listed.text.includes(a.execution), false);
      const keysOfA = await server.request('GET', '/api-keys', { key: a.admin });
      assert.equal(keysOfA.body.items.length, 1, 'no key was created in A by B');
    });

    it("refuses B's admin a stream of A's execution", async () => {
      const stream = await openStream(server.url, `/executions/${a.execution}/stream`, b.admin);
      const closed = await stream.waitClosed();
      assert.equal(closed.code, 4404, JSON.stringify(closed));
    });

    it('keeps workspaces to the owner: admins neither create them nor list others', async () => {
      assertProblem(
        await server.request('POST', '/workspaces', { key: a.admin, body: { slug: 'by-admin', name: 'x' } }),
        403,
        'FORBIDDEN',
      );
      const own = await server.request('GET', '/workspaces', { key: b.admin });
      assert.deepEqual(
        own.body.items.map((workspace: { slug: string }) => workspace.slug),
        ['team-b'],
      );
      const all = await server.request('GET', '/workspaces');
      const slugs = all.body.items.map((workspace: { slug: string }) => workspace.slug).sort();
      assert.deepEqual(slugs, ['default', 'team-a', 'team-b']);
    });

    it("lets the owner read A's executions and secret and create keys in A", async () => {
      const inA = { 'x-workspace-id': a.id };
      const execution = await server.request('GET', `/executions/${a.execution}`, { headers: inA });
      assert.equal(execution.status, 200);
      assert.equal(execution.body.workflow_id, a.workflow);
      const secret = await server.request('GET', '/webhooks/signing-secret', { headers: inA });
      assert.equal(JSON.stringify(secret.body), a.secret);
      const member = await keyIn(a.id, 'member');
      const asMember = await server.request('GET', `/workflows/${a.workflow}`, { key: member.key });
      assert.equal(asMember.status, 200);
    });

    it('keeps owner keys to the owner: admins cannot create, raise or revoke them', async () => {
      const byAdmin = await server.request('POST', '/api-keys', { key: a.admin, body: { name: 'up', role: 'owner' } });
      assertProblem(byAdmin, 403, 'FORBIDDEN');
      assert.match(byAdmin.body.detail, /only an owner key may create owner keys/);
      const second = await server.request('POST', '/api-keys', { body: { name: 'second owner', role: 'owner' } });
      assert.equal(second.status, 201, second.text);
      assert.equal(second.body.role, 'owner');
      const crossing = await server.request('GET', `/executions/${a.execution}`, {
        key: second.body.key,
        headers: { 'x-workspace-slug': 'team-a' },
      });
      assert.equal(crossing.status, 200, 'a new owner key acts in other workspaces too');
      const adminOfDefault = await server.request('POST', '/api-keys', { body: { name: 'local', role: 'admin' } });
      assertProblem(
        await server.request('DELETE', `/api-keys/${second.body.id}`, { key: adminOfDefault.body.key }),
        403,
        'FORBIDDEN',
      );
      assert.equal((await server.request('DELETE', `/api-keys/${second.body.id}`)).status, 204);
      assertProblem(await server.request('GET', '/executions', { key: second.body.key }), 401, 'UNAUTHORIZED');
    });
  });

  describe(`migration 0007 (${backend})`, () => {
    it('makes the bootstrap admin key of an older database its owner, and no other admin key', async () => {
      const database = await createTestDatabase(backend);
      const store = database.open();
      try {
        await store.migrate('0006-execution-idempotency');
        // What version 0006 bootstrapped: the default workspace and an admin key named for it.
        const generated = `weft_${'g'.repeat(43)}`;
        const chosen = 'an-operator-chosen-key-of-36-chars-x';
        const other = `weft_${'o'.repeat(43)}`;
        const foreign = `weft_${'f'.repeat(43)}`;
        const workspace = await store.workspaces.createIfSlugFree({ slug: 'default', name: 'Default' });
        const team = await store.workspaces.createIfSlugFree({ slug: 'team', name: 'Team' });
        assert.ok(workspace && team);
        const add = (workspaceId: string, name: string, raw: string) =>
          store.apiKeys.create({
            workspaceId,
            name,
            role: 'admin',
            prefix: raw.slice(0, 12),
            keyHash: hashApiKey(raw),
          });
        await add(workspace.id, 'bootstrap admin', generated);
        await add(workspace.id, 'WEFT_ADMIN_KEY', chosen);
        await add(workspace.id, 'ci admin', other);
        await add(team.id, 'bootstrap admin', foreign);
        assert.deepEqual(await store.migrate('0007-owner-role'), ['0007-owner-role']);
        const roleOf = async (raw: string) => (await store.apiKeys.findByHash(hashApiKey(raw)))?.key;
        assert.equal((await roleOf(generated))?.role, 'owner');
        assert.equal((await roleOf(chosen))?.role, 'owner');
        assert.equal((await roleOf(chosen))?.prefix, 'an-opera', 'stored prefixes are cut to 8 characters');
        assert.equal((await roleOf(other))?.role, 'admin');
        assert.equal((await roleOf(foreign))?.role, 'admin', 'only keys of the default workspace');
        // A WEFT_ADMIN_KEY that had been demoted meanwhile is an owner again at the next start.
        await store.apiKeys.setRole((await roleOf(chosen))?.id ?? '', 'member');
        await bootstrapWorkspace(store, { dataDir: database.config.dataDir, adminKey: chosen });
        assert.equal((await roleOf(chosen))?.role, 'owner');
      } finally {
        await store.close();
        await database.drop();
      }
    });
  });
}
