import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../src/store/store.js';
import { assertProblem, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';

/**
 * The start routes keep each workflow's head (enabled, latest version, webhook) between starts
 * and check it again when they insert (engine/workflow-heads.ts). A start after a change, made
 * over the API or by another process writing to the database, runs what the change says: the new
 * version, a 409 once disabled, a 202 once enabled again, a 404 once deleted.
 */

for (const backend of testBackends()) {
  describe(`starts after a workflow changes (${backend})`, () => {
    let server: TestServer;
    /** A second store on the same database: another process's writes. */
    let otherProcess: Store;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      otherProcess = server.database.open();
    });
    after(async () => {
      await otherProcess.close();
      await server.close();
    });

    const workspaceId = async () => (await server.request('GET', '/workspaces')).body.items[0].id as string;
    const startOne = (id: string) => server.request('POST', `/workflows/${id}/executions`, { body: {} });
    const startBatch = (id: string) =>
      server.request('POST', `/workflows/${id}/executions/batch`, { body: { executions: [{}, {}] } });

    it('runs the version an update made, over the API or from another process', async () => {
      const id = (await server.request('POST', '/workflows', { body: simpleDefinition('Heads v1') })).body.id;
      const first = await startOne(id);
      assert.equal(first.status, 202, first.text);
      assert.equal(first.body.workflow_version, 1);

      const updated = await server.request('PUT', `/workflows/${id}`, { body: simpleDefinition('Heads v2') });
      assert.equal(updated.status, 200, updated.text);
      const second = await startOne(id);
      assert.equal(second.status, 202, second.text);
      assert.equal(second.body.workflow_version, 2);
      assert.equal(second.body.workflow_name, 'Heads v2');

      await otherProcess.workflows.update(await workspaceId(), id, simpleDefinition('Heads v3'));
      const third = await startOne(id);
      assert.equal(third.status, 202, third.text);
      assert.equal(third.body.workflow_version, 3);
      assert.equal(third.body.workflow_name, 'Heads v3');

      await otherProcess.workflows.update(await workspaceId(), id, simpleDefinition('Heads v4'));
      const batch = await startBatch(id);
      assert.equal(batch.status, 202, batch.text);
      assert.deepEqual(
        batch.body.items.map((item: { workflow_version: number }) => item.workflow_version),
        [4, 4],
      );
    });

    it('refuses a disabled workflow and starts it again once enabled, whoever changed it', async () => {
      const id = (await server.request('POST', '/workflows', { body: simpleDefinition('Heads toggled') })).body.id;
      assert.equal((await startOne(id)).status, 202);

      await otherProcess.workflows.patch(await workspaceId(), id, { enabled: false });
      assertProblem(await startOne(id), 409, 'CONFLICT');
      assertProblem(await startBatch(id), 409, 'CONFLICT');

      await otherProcess.workflows.patch(await workspaceId(), id, { enabled: true });
      assert.equal((await startOne(id)).status, 202);

      const disabled = await server.request('PATCH', `/workflows/${id}`, { body: { enabled: false } });
      assert.equal(disabled.status, 200, disabled.text);
      assertProblem(await startOne(id), 409, 'CONFLICT');
      await server.request('PATCH', `/workflows/${id}`, { body: { enabled: true } });
      assert.equal((await startBatch(id)).status, 202);
    });

    it('answers 404 once the workflow is deleted, and for a version it does not have yet', async () => {
      const id = (await server.request('POST', '/workflows', { body: simpleDefinition('Heads deleted') })).body.id;
      assert.equal((await startOne(id)).status, 202);
      assertProblem(
        await server.request('POST', `/workflows/${id}/executions`, { body: { version: 2 } }),
        404,
        'NOT_FOUND',
      );
      await otherProcess.workflows.update(await workspaceId(), id, simpleDefinition('Heads deleted v2'));
      const versioned = await server.request('POST', `/workflows/${id}/executions`, { body: { version: 2 } });
      assert.equal(versioned.status, 202, versioned.text);
      assert.equal(versioned.body.workflow_version, 2);

      await otherProcess.workflows.softDelete(await workspaceId(), id);
      assertProblem(await startOne(id), 404, 'NOT_FOUND');
      assertProblem(await startBatch(id), 404, 'NOT_FOUND');
    });

    it('keeps the starts of a batch that raced an update, each on one version', async () => {
      const id = (await server.request('POST', '/workflows', { body: simpleDefinition('Heads raced') })).body.id;
      assert.equal((await startOne(id)).status, 202);
      const workspace = await workspaceId();
      const [starts] = await Promise.all([
        Promise.all(Array.from({ length: 40 }, () => startOne(id))),
        otherProcess.workflows.update(workspace, id, simpleDefinition('Heads raced v2')),
      ]);
      for (const response of starts) assert.equal(response.status, 202, response.text);
      const listed = await server.request('GET', `/workflows/${id}/executions?limit=100`);
      assert.equal(listed.body.items.length, 41);
      // Each answer names the version its execution runs; a start after the update runs v2.
      for (const response of starts) {
        const execution = await server.request('GET', `/executions/${response.body.id}`);
        assert.equal(execution.body.workflow_version, response.body.workflow_version);
      }
      assert.equal((await startOne(id)).body.workflow_version, 2);
    });
  });
}
