import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WorkflowDefinition } from '../src/definition/definition-schema.js';
import { WeftError } from '../src/errors.js';
import { MIGRATION_NAMES } from '../src/store/migrations/index.js';
import type { Store } from '../src/store/store.js';
import { createTestDatabase, type TestDatabase, testBackends } from './helpers/backends.js';

const definition = (name: string, labels: Record<string, string> = {}): WorkflowDefinition => ({
  name,
  labels,
  steps: [{ id: 'a', type: 'noop' }],
});

for (const backend of testBackends()) {
  describe(`store contract (${backend})`, () => {
    let database: TestDatabase;
    let store: Store;

    before(async () => {
      database = await createTestDatabase(backend);
      store = database.open();
    });
    after(async () => {
      await store.close();
      await database.drop();
    });

    it('applies every migration once, then none', async () => {
      // The migrator orders names by code unit (store.ts): `NNNN-words`, numbered in order.
      for (const name of MIGRATION_NAMES) assert.match(name, /^\d{4}-[a-z0-9-]+$/);
      assert.deepEqual([...MIGRATION_NAMES].sort(), [...MIGRATION_NAMES]);
      assert.deepEqual(await store.migrate(), [...MIGRATION_NAMES]);
      assert.deepEqual(await store.migrate(), []);
      const second = database.open();
      try {
        assert.deepEqual(await second.migrate(), []);
      } finally {
        await second.close();
      }
    });

    it('creates workspaces with unique slugs', async () => {
      const created = await store.workspaces.create({ slug: 'acme', name: 'Acme' });
      assert.equal((await store.workspaces.getBySlug('acme'))?.id, created.id);
      await assert.rejects(store.workspaces.create({ slug: 'acme', name: 'Again' }), (error: unknown) => {
        return error instanceof WeftError && error.code === 'CONFLICT';
      });
      assert.equal(await store.workspaces.createIfSlugFree({ slug: 'acme', name: 'x' }), undefined);
    });

    it('finds API keys by hash only, with their workspace', async () => {
      const workspace = await store.workspaces.create({ slug: 'keys', name: 'Keys' });
      const key = await store.apiKeys.create({
        workspaceId: workspace.id,
        name: 'k',
        role: 'member',
        prefix: 'weft_abc',
        keyHash: 'h1',
      });
      const found = await store.apiKeys.findByHash('h1');
      assert.equal(found?.key.id, key.id);
      assert.equal(found?.workspace.slug, 'keys');
      assert.equal(await store.apiKeys.findByHash('h2'), undefined);
      assert.equal(await store.apiKeys.delete('ws_other', key.id), false);
      assert.equal(await store.apiKeys.delete(workspace.id, key.id), true);
      assert.equal(await store.apiKeys.findByHash('h1'), undefined);
    });

    it('versions workflows and keeps every query inside its workspace', async () => {
      const mine = await store.workspaces.create({ slug: 'mine', name: 'Mine' });
      const theirs = await store.workspaces.create({ slug: 'theirs', name: 'Theirs' });
      const workflow = await store.workflows.create(mine.id, definition('Resize images', { team: 'media' }));
      assert.equal(workflow.version, 1);
      assert.equal(await store.workflows.get(theirs.id, workflow.id), undefined);
      assert.equal(await store.workflows.update(theirs.id, workflow.id, definition('hijack')), undefined);
      assert.equal(await store.workflows.patch(theirs.id, workflow.id, { name: 'hijack' }), undefined);
      assert.equal(await store.workflows.softDelete(theirs.id, workflow.id), false);
      assert.equal(await store.workflows.listVersions(theirs.id, workflow.id, { limit: 10 }), undefined);
      assert.deepEqual((await store.workflows.list(theirs.id, {}, { limit: 10 })).items, []);

      const second = await store.workflows.update(mine.id, workflow.id, definition('Resize images v2'));
      assert.equal(second?.version, 2);
      const same = await store.workflows.update(mine.id, workflow.id, definition('Resize images v2'));
      assert.equal(same?.version, 2, 'an identical definition makes no new version');
      assert.equal((await store.workflows.get(mine.id, workflow.id, { version: 1 }))?.definition.name, 'Resize images');
    });

    it('filters by label, name and enabled, in one transaction-safe list', async () => {
      const workspace = await store.workspaces.create({ slug: 'filters', name: 'Filters' });
      await store.workflows.create(workspace.id, definition('Alpha_100%', { team: 'media', tier: 'gold' }));
      await store.workflows.create(workspace.id, { ...definition('beta', { team: 'media' }), enabled: false });
      await store.workflows.create(workspace.id, definition('Gamma', { team: 'ops' }));
      const names = async (filters: Parameters<Store['workflows']['list']>[1]) =>
        (await store.workflows.list(workspace.id, filters, { limit: 50 })).items.map((item) => item.name);
      assert.deepEqual(await names({ labels: [['team', 'media']] }), ['beta', 'Alpha_100%']);
      assert.deepEqual(
        await names({
          labels: [
            ['team', 'media'],
            ['tier', 'gold'],
          ],
        }),
        ['Alpha_100%'],
      );
      assert.deepEqual(await names({ q: 'ALPHA_1' }), ['Alpha_100%']);
      assert.deepEqual(await names({ q: '100%' }), ['Alpha_100%']);
      assert.deepEqual(await names({ q: '_' }), ['Alpha_100%'], "'_' is matched literally, not as a wildcard");
      assert.deepEqual(await names({ enabled: false }), ['beta']);
    });

    it('rolls a transaction back as a whole', async () => {
      const before = await store.workspaces.count();
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.workspaces.create({ slug: 'rolled-back', name: 'x' });
          throw new Error('abort');
        }),
        /abort/,
      );
      assert.equal(await store.workspaces.count(), before);
      assert.equal(await store.workspaces.getBySlug('rolled-back'), undefined);
    });
  });
}
