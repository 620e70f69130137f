import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { firstIdAt, newId } from '../src/ids.js';
import { assertProblem, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { waitForExecution } from './helpers/http-fixtures.js';

/**
 * What the lists of the web UI read beside the rows: `created_after`/`created_before` on both
 * execution lists, `workflow_name` on execution views, and `last_execution` on the workflow list.
 */

interface Listed {
  id: string;
  workflow_id: string | null;
  workflow_name: string | null;
  created_at: string;
}

const ids = (page: { items: Array<{ id: string }> }) => page.items.map((item) => item.id);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('execution ids as time bounds', () => {
  it('sorts an id made at a time between the first ids of that millisecond and of the next', () => {
    for (let round = 0; round < 50; round += 1) {
      const before = Date.now();
      const id = newId('ex');
      const after = Date.now();
      assert.ok(firstIdAt('ex', before) <= id, `${id} before ${firstIdAt('ex', before)}`);
      assert.ok(id < firstIdAt('ex', after + 1), `${id} after ${firstIdAt('ex', after + 1)}`);
    }
    assert.equal(firstIdAt('ex', -5), 'ex_0000000000');
    assert.ok(firstIdAt('ex', Date.parse('9999-12-31T23:59:59.999Z')) > firstIdAt('ex', Date.now()));
  });
});

for (const backend of testBackends()) {
  describe(`execution and workflow lists (${backend})`, () => {
    let server: TestServer;
    let alpha: string;
    let beta: string;
    /** Executions in creation order: alpha, beta, alpha (failed), ad hoc. */
    const created: Listed[] = [];
    const inB = () => ({ 'x-workspace-slug': 'lists-b' });

    const list = async (path: string, headers: Record<string, string> = {}) => {
      const response = await server.request('GET', path, { headers });
      assert.equal(response.status, 200, response.text);
      return response.body as { items: Listed[]; next_cursor: string | null };
    };

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      alpha = (await server.request('POST', '/workflows', { body: simpleDefinition('Alpha') })).body.id;
      beta = (await server.request('POST', '/workflows', { body: simpleDefinition('Beta') })).body.id;
      const start = async (workflowId: string, input: unknown) => {
        const response = await server.request('POST', `/workflows/${workflowId}/executions`, { body: { input } });
        assert.equal(response.status, 202, response.text);
        return response.body as Listed;
      };
      // A few milliseconds apart, so that each has its own creation time.
      created.push(await start(alpha, { value: 1 }));
      await pause(5);
      created.push(await start(beta, { value: 2 }));
      await pause(5);
      // `transform` of a string times two fails the execution.
      created.push(await start(alpha, { value: 'not a number' }));
      await pause(5);
      const adhoc = await server.request('POST', '/executions', {
        body: { definition: simpleDefinition('Inline'), input: { value: 4 } },
      });
      created.push(adhoc.body);
      for (const execution of created) await waitForExecution(server, execution.id, ['completed', 'failed']);
      await server.request('POST', '/workspaces', { body: { slug: 'lists-b', name: 'B' } });
      const workflowOfB = await server.request('POST', '/workflows', {
        body: simpleDefinition('Beta'),
        headers: inB(),
      });
      await server.request('POST', `/workflows/${workflowOfB.body.id}/executions`, {
        body: { input: { value: 1 } },
        headers: inB(),
      });
    });
    after(() => server.close());

    it('filters both lists by creation time, with the other filters and cursor pages', async () => {
      const [first, second, third, fourth] = created.map((execution) => execution.created_at);
      const all = created.map((execution) => execution.id).reverse();
      assert.deepEqual(ids(await list('/executions')), all);
      // `created_after` includes its instant, `created_before` excludes it: windows tile.
      assert.deepEqual(ids(await list(`/executions?created_after=${second}`)), all.slice(0, 3));
      assert.deepEqual(ids(await list(`/executions?created_before=${second}`)), all.slice(3));
      assert.deepEqual(
        ids(await list(`/executions?created_after=${second}&created_before=${fourth}`)),
        all.slice(1, 3),
      );
      // Offsets are times like any other: 02:00 ahead of UTC is two hours earlier in UTC.
      const shifted = (iso: string | undefined) => {
        const at = new Date(Date.parse(iso ?? '') + 2 * 3600_000).toISOString();
        return encodeURIComponent(`${at.slice(0, 23)}+02:00`);
      };
      assert.deepEqual(ids(await list(`/executions?created_after=${shifted(third)}`)), all.slice(0, 2));

      assert.deepEqual(ids(await list(`/executions?created_after=${first}&status=failed`)), [created[2]?.id]);
      assert.deepEqual(ids(await list(`/executions?created_after=${first}&workflow_id=${alpha}`)), [
        created[2]?.id,
        created[0]?.id,
      ]);
      assert.deepEqual(ids(await list(`/workflows/${alpha}/executions?created_before=${third}`)), [created[0]?.id]);
      assert.deepEqual(ids(await list(`/workflows/${alpha}/executions?created_after=${fourth}`)), []);

      const page = await list(`/executions?created_before=${fourth}&limit=2`);
      assert.deepEqual(ids(page), all.slice(1, 3));
      const next = await list(
        `/executions?created_before=${fourth}&limit=2&cursor=${encodeURIComponent(page.next_cursor ?? '')}`,
      );
      assert.deepEqual(ids(next), all.slice(3));
      assert.equal(next.next_cursor, null);

      // Another workspace's executions stay out of every window.
      const everything = await list('/executions?created_after=2000-01-01T00:00:00Z&limit=200');
      assert.deepEqual(ids(everything), all);
    });

    it('answers a malformed time with a 400 at its query path', async () => {
      for (const [name, value] of [
        ['created_after', 'yesterday'],
        ['created_before', '2025-02-30T00:00:00Z'],
        ['created_after', '2026-01-01'],
        ['created_before', '2026-01-01T10:00:00'],
        ['created_after', '2016-12-31T23:59:60Z'],
      ]) {
        const response = await server.request('GET', `/executions?${name}=${encodeURIComponent(value ?? '')}`);
        assertProblem(response, 400, 'VALIDATION_FAILED');
        assert.deepEqual(
          response.body.errors.map((error: { path: string }) => error.path),
          [`query/${name}`],
          `${name}=${value}: ${response.text}`,
        );
        const forWorkflow = await server.request('GET', `/workflows/${alpha}/executions?${name}=${value}`);
        assertProblem(forWorkflow, 400, 'VALIDATION_FAILED');
      }
    });

    it("names each execution's workflow in lists, reads and answers; null for an ad-hoc run", async () => {
      const names = (await list('/executions')).items.map((item) => [item.id, item.workflow_name]);
      assert.deepEqual(names, [
        [created[3]?.id, null],
        [created[2]?.id, 'Alpha'],
        [created[1]?.id, 'Beta'],
        [created[0]?.id, 'Alpha'],
      ]);
      assert.equal(created[0]?.workflow_name, 'Alpha', 'the start answer names it');
      assert.equal(created[3]?.workflow_name, null);
      assert.equal((await server.request('GET', `/executions/${created[1]?.id}`)).body.workflow_name, 'Beta');
      assert.deepEqual(
        (await list(`/workflows/${beta}/executions`)).items.map((item) => item.workflow_name),
        ['Beta'],
      );
      // The current name, after a rename; and kept once the workflow is deleted.
      await server.request('PATCH', `/workflows/${beta}`, { body: { name: 'Beta renamed' } });
      const retried = await server.request('POST', `/executions/${created[2]?.id}/retry`, { body: {} });
      assert.equal(retried.body.workflow_name, 'Alpha');
      await waitForExecution(server, created[2]?.id ?? '', ['failed']);
      assert.equal(
        (await server.request('DELETE', `/workflows/${beta}`)).status,
        204,
        'deleting a workflow without running executions',
      );
      const afterDelete = await server.request('GET', `/executions/${created[1]?.id}`);
      assert.equal(afterDelete.body.workflow_name, 'Beta renamed');
      assert.equal((await list('/executions')).items[2]?.workflow_name, 'Beta renamed');
    });

    it("shows each workflow's newest execution that is not deleted on the workflow list", async () => {
      const fresh = (await server.request('POST', '/workflows', { body: simpleDefinition('Never run') })).body.id;
      const lastOf = async (workflowId: string) => {
        const page = await list('/workflows?include_deleted=true');
        const item = (page.items as unknown as Array<{ id: string; last_execution: unknown }>).find(
          (candidate) => candidate.id === workflowId,
        );
        assert.ok(item, `workflow ${workflowId} is listed`);
        return item.last_execution as { id: string; status: string; created_at: string; completed_at: string } | null;
      };
      assert.equal(await lastOf(fresh), null);
      const newest = await lastOf(alpha);
      const third = await server.request('GET', `/executions/${created[2]?.id}`);
      assert.deepEqual(newest, {
        id: third.body.id,
        status: 'failed',
        created_at: third.body.created_at,
        completed_at: third.body.completed_at,
      });
      // Cleaned up (soft-deleted), the newest gives way to the one before.
      const cleaned = await server.request('POST', `/executions/${created[2]?.id}/cleanup`);
      assert.equal(cleaned.status, 200, cleaned.text);
      assert.equal((await lastOf(alpha))?.id, created[0]?.id);
      assert.equal((await lastOf(beta))?.status, 'completed');
      // A page's items each carry it; the list of another workspace shows its own.
      const inWorkspaceB = await list('/workflows', inB());
      assert.equal(inWorkspaceB.items.length, 1);
      const lastOfB = (inWorkspaceB.items[0] as unknown as { last_execution: { id: string } }).last_execution;
      assert.ok(lastOfB);
      assert.equal(
        created.some((execution) => execution.id === lastOfB.id),
        false,
      );
      const pageOfOne = await list('/workflows?limit=1');
      assert.ok('last_execution' in (pageOfOne.items[0] ?? {}));
    });
  });
}
