import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newId } from '../src/ids.js';
import type { ExecutionRow } from '../src/store/database-schema.js';
import { simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { createTestDatabase, testBackends } from './helpers/backends.js';

/**
 * `GET /executions?label=key:value`: on SQLite a label held by few executions drives the query,
 * a common one is checked on the walk of the list (execution-repository.ts, migration 0019). Both
 * plans, alone and combined with another label, a status and a cursor, must list the same
 * executions newest first, and nothing of another workspace.
 */

/** Over 2,000 executions carry `batch:all` (the common plan on SQLite); one in 100 `rare:yes`. */
const TOTAL = 2050;

for (const backend of testBackends()) {
  describe(`the label filter of the execution list (${backend})`, () => {
    let server: TestServer;
    /** Ids in creation order (ids sort by creation). */
    const all: string[] = [];
    const rare: string[] = [];
    const inB = { 'x-workspace-slug': 'labels-b' };

    const list = async (path: string, headers: Record<string, string> = {}) => {
      const response = await server.request('GET', path, { headers });
      assert.equal(response.status, 200, response.text);
      return response.body as { items: Array<{ id: string }>; next_cursor: string | null };
    };
    const ids = (page: { items: Array<{ id: string }> }) => page.items.map((item) => item.id);
    const newestFirst = (list: string[]) => [...list].reverse();

    before(async () => {
      server = await startTestServer(backend);
      const workflow = await server.request('POST', '/workflows', { body: simpleDefinition('Labelled') });
      assert.equal(workflow.status, 201, workflow.text);
      for (let from = 0; from < TOTAL; from += 1000) {
        const executions = Array.from({ length: Math.min(1000, TOTAL - from) }, (_, offset) => ({
          start: false,
          labels: { batch: 'all', ...((from + offset) % 100 === 0 ? { rare: 'yes' } : {}) },
        }));
        const started = await server.request('POST', `/workflows/${workflow.body.id}/executions/batch`, {
          body: { executions },
        });
        assert.equal(started.status, 202, started.text);
        for (const [offset, item] of (started.body.items as Array<{ id: string }>).entries()) {
          all.push(item.id);
          if ((from + offset) % 100 === 0) rare.push(item.id);
        }
      }
      // Another workspace's execution with the same labels.
      await server.request('POST', '/workspaces', { body: { slug: 'labels-b', name: 'B' } });
      const other = await server.request('POST', '/workflows', { body: simpleDefinition('Other'), headers: inB });
      assert.equal(other.status, 201, other.text);
      const foreign = await server.request('POST', `/workflows/${other.body.id}/executions`, {
        body: { start: false, labels: { batch: 'all', rare: 'yes' } },
        headers: inB,
      });
      assert.equal(foreign.status, 202, foreign.text);
    });
    after(async () => {
      await server.close();
    });

    it("lists a rare label's executions newest first, and no other workspace's", async () => {
      assert.equal(rare.length, 21);
      assert.deepEqual(ids(await list('/executions?label=rare:yes&limit=200')), newestFirst(rare));
      assert.deepEqual(ids(await list('/executions?label=rare:yes&label=batch:all&limit=200')), newestFirst(rare));
      assert.deepEqual(ids(await list('/executions?label=batch:all&label=rare:yes&status=pending&limit=200')), [
        ...newestFirst(rare),
      ]);
      assert.deepEqual(ids(await list('/executions?label=rare:yes&status=completed')), []);
      assert.deepEqual(ids(await list('/executions?label=rare:no')), []);
      assert.equal((await list('/executions?label=rare:yes', inB)).items.length, 1);
    });

    it("pages through a label every execution has, and a rare one's pages", async () => {
      const first = await list('/executions?label=batch:all&limit=100');
      assert.deepEqual(ids(first), newestFirst(all).slice(0, 100));
      assert.ok(first.next_cursor);
      const second = await list(`/executions?label=batch:all&limit=100&cursor=${first.next_cursor}`);
      assert.deepEqual(ids(second), newestFirst(all).slice(100, 200));
      const rareFirst = await list('/executions?label=rare:yes&limit=15');
      assert.deepEqual(ids(rareFirst), newestFirst(rare).slice(0, 15));
      const rareSecond = await list(`/executions?label=rare:yes&limit=15&cursor=${rareFirst.next_cursor}`);
      assert.deepEqual(ids(rareSecond), newestFirst(rare).slice(15));
      assert.equal(rareSecond.next_cursor, null);
    });
  });

  describe(`labels of executions stored before the label index (${backend})`, () => {
    it('are found by the filter once the store is migrated', async () => {
      const database = await createTestDatabase(backend);
      const store = database.open();
      try {
        await store.migrate('0018-execution-durations');
        const workspace = await store.workspaces.create({ slug: 'before', name: 'Before' });
        const at = new Date().toISOString();
        const row = (labels: string): ExecutionRow => ({
          id: newId('ex'),
          workspace_id: workspace.id,
          workflow_id: null,
          workflow_version: null,
          adhoc_definition: JSON.stringify(simpleDefinition('Before')),
          status: 'pending',
          input: '{}',
          output: null,
          error: null,
          labels,
          reference: null,
          trigger: null,
          webhook_url: null,
          steps_total: 1,
          steps_unsettled: 1,
          timeout_at: null,
          created_at: at,
          started_at: null,
          completed_at: null,
          updated_at: at,
          deleted_at: null,
          idempotency_key: null,
        });
        const labelled = row('{"team":"data","tier":"gold"}');
        await store.executions.insertMany([labelled, row('{"team":"web"}'), row('{}')]);
        await store.migrate();
        const page = await store.executions.list(workspace.id, { labels: [['team', 'data']] }, { limit: 10 });
        assert.deepEqual(
          page.items.map((item) => item.id),
          [labelled.id],
        );
        const both = await store.executions.list(
          workspace.id,
          {
            labels: [
              ['team', 'data'],
              ['tier', 'gold'],
            ],
          },
          { limit: 10 },
        );
        assert.deepEqual(
          both.items.map((item) => item.id),
          [labelled.id],
        );
      } finally {
        await store.close();
        await database.drop();
      }
    });
  });
}
