import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { waitForExecution } from './helpers/http-fixtures.js';

/** `GET /workflows/{id}/executions`: a workflow's executions, with the filters and pages of `GET /executions`. */

const ids = (page: { items: Array<{ id: string }> }) => page.items.map((item) => item.id);

for (const backend of testBackends()) {
  describe(`workflow executions list (${backend})`, () => {
    let server: TestServer;
    let workflowId: string;
    let otherWorkflowId: string;
    /** The executions of `workflowId`, oldest first. */
    const started: string[] = [];

    const start = async (workflow: string, body: Record<string, unknown>) => {
      const response = await server.request('POST', `/workflows/${workflow}/executions`, { body });
      assert.equal(response.status, 202, response.text);
      await waitForExecution(server, response.body.id, ['completed']);
      return response.body.id as string;
    };

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      workflowId = (await server.request('POST', '/workflows', { body: simpleDefinition('Listed') })).body.id;
      otherWorkflowId = (await server.request('POST', '/workflows', { body: simpleDefinition('Other') })).body.id;
      started.push(await start(workflowId, { input: { value: 1 }, reference: 'order-1', labels: { tier: 'gold' } }));
      started.push(await start(workflowId, { input: { value: 2 }, reference: 'order-2' }));
      started.push(await start(workflowId, { input: { value: 3 }, labels: { tier: 'gold' } }));
      // Not a pending one: created with start false, it is one of the workflow's executions too.
      const pending = await server.request('POST', `/workflows/${workflowId}/executions`, { body: { start: false } });
      started.push(pending.body.id);
      await start(otherWorkflowId, { input: { value: 9 } });
    });
    after(() => server.close());

    it("lists only the workflow's executions, newest first, as GET /executions?workflow_id= does", async () => {
      const response = await server.request('GET', `/workflows/${workflowId}/executions`);
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(ids(response.body), [...started].reverse());
      assert.ok(response.body.items.every((item: { workflow_id: string }) => item.workflow_id === workflowId));
      assert.equal(response.body.next_cursor, null);
      const global = await server.request('GET', `/executions?workflow_id=${workflowId}`);
      assert.deepEqual(response.body, global.body);
      assert.equal(response.body.items[1].progress.total, 2, 'items carry their progress like GET /executions');
    });

    it('filters by status, reference and label, and pages with the cursor', async () => {
      const list = async (query: string) => {
        const response = await server.request('GET', `/workflows/${workflowId}/executions?${query}`);
        assert.equal(response.status, 200, response.text);
        return response.body;
      };
      assert.deepEqual(ids(await list('status=pending')), [started[3]]);
      assert.deepEqual(ids(await list('status=completed')), [started[2], started[1], started[0]]);
      assert.deepEqual(ids(await list('reference=order-2')), [started[1]]);
      assert.deepEqual(ids(await list('label=tier:gold')), [started[2], started[0]]);
      assert.deepEqual(ids(await list('label=tier:gold&reference=order-1')), [started[0]]);

      const first = await list('limit=3');
      assert.deepEqual(ids(first), [started[3], started[2], started[1]]);
      assert.equal(typeof first.next_cursor, 'string');
      const second = await list(`limit=3&cursor=${encodeURIComponent(first.next_cursor)}`);
      assert.deepEqual(ids(second), [started[0]]);
      assert.equal(second.next_cursor, null);
      // A cursor of GET /executions works here too: both walk the same order.
      const global = await server.request('GET', `/executions?workflow_id=${workflowId}&limit=1`);
      assert.deepEqual(ids(await list(`cursor=${encodeURIComponent(global.body.next_cursor)}`)), [
        started[2],
        started[1],
        started[0],
      ]);
    });

    it('refuses unknown parameters like GET /executions, and workflow_id cannot widen it', async () => {
      const unknown = { path: 'query/colour', message: "unknown query parameter 'colour'" };
      const scoped = await server.request('GET', `/workflows/${workflowId}/executions?colour=blue`);
      assertProblem(scoped, 400, 'VALIDATION_FAILED');
      assert.deepEqual(scoped.body.errors, [unknown]);
      assert.deepEqual((await server.request('GET', '/executions?colour=blue')).body.errors, [unknown]);
      const widened = await server.request('GET', `/workflows/${workflowId}/executions?workflow_id=${otherWorkflowId}`);
      assertProblem(widened, 400, 'VALIDATION_FAILED');
      assert.deepEqual(widened.body.errors, [
        { path: 'query/workflow_id', message: "unknown query parameter 'workflow_id'" },
      ]);
    });

    it('rejects bad parameters with 400 naming them, as GET /executions does', async () => {
      for (const query of ['status=finished', 'limit=0', 'limit=201', 'label=nocolon', 'cursor=not-a-cursor']) {
        const scoped = await server.request('GET', `/workflows/${workflowId}/executions?${query}`);
        assertProblem(scoped, 400, 'VALIDATION_FAILED');
        const global = await server.request('GET', `/executions?${query}`);
        assert.deepEqual(scoped.body.errors, global.body.errors, query);
        assert.match(scoped.body.errors[0].path, /^query\//);
      }
    });

    it("answers 404 for an unknown workflow, another workspace's, and a deleted one unless include_deleted", async () => {
      assertProblem(await server.request('GET', '/workflows/wf_missing/executions'), 404, 'NOT_FOUND');

      const workspaceB = await server.request('POST', '/workspaces', { body: { slug: 'list-b', name: 'B' } });
      const inB = { 'x-workspace-id': workspaceB.body.id };
      const ofB = await server.request('POST', '/workflows', { body: simpleDefinition('Of B'), headers: inB });
      assert.equal(ofB.status, 201, ofB.text);
      assertProblem(await server.request('GET', `/workflows/${ofB.body.id}/executions`), 404, 'NOT_FOUND');
      const fromB = await server.request('GET', `/workflows/${ofB.body.id}/executions`, { headers: inB });
      assert.deepEqual(fromB.body, { items: [], next_cursor: null });

      const doomed = (await server.request('POST', '/workflows', { body: simpleDefinition('Doomed') })).body.id;
      const ran = await start(doomed, { input: { value: 4 } });
      assert.equal((await server.request('DELETE', `/workflows/${doomed}`)).status, 204);
      assertProblem(await server.request('GET', `/workflows/${doomed}/executions`), 404, 'NOT_FOUND');
      const kept = await server.request('GET', `/workflows/${doomed}/executions?include_deleted=true`);
      assert.equal(kept.status, 200, kept.text);
      assert.deepEqual(ids(kept.body), [ran]);
    });
  });
}
