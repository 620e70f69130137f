import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, createKey, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { waitForExecution } from './helpers/http-fixtures.js';

/**
 * `POST /workflows/{id}/executions/batch`: many starts in one request, answered in order, all or
 * none; idempotency keys replay within the batch and across batches; other workspaces see a 404.
 */

const typedDefinition = (name: string) =>
  simpleDefinition(name, {
    input_schema: {
      type: 'object',
      properties: { value: { type: 'integer' } },
      required: ['value'],
      additionalProperties: false,
    },
  });

for (const backend of testBackends()) {
  describe(`batch start (${backend})`, () => {
    let server: TestServer;
    let typed: string;
    let other: string;

    const executionCount = async (workflowId: string) =>
      (await server.request('GET', `/workflows/${workflowId}/executions?limit=200`)).body.items.length as number;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      typed = (await server.request('POST', '/workflows', { body: typedDefinition('Typed') })).body.id;
      other = (await server.request('POST', '/workflows', { body: simpleDefinition('Other') })).body.id;
    });
    after(async () => {
      await server.close();
    });

    it('starts every execution in order and runs them', async () => {
      const response = await server.request('POST', `/workflows/${typed}/executions/batch`, {
        body: {
          executions: [
            { input: { value: 1 }, labels: { run: 'batch' }, reference: 'first' },
            { input: { value: 2 }, reference: 'second' },
            { input: { value: 3 }, start: false },
          ],
        },
      });
      assert.equal(response.status, 202, response.text);
      const items = response.body.items as Array<Record<string, unknown>>;
      assert.deepEqual(
        items.map((item) => [item.workflow_id, item.workflow_name, item.reference, item.input, item.status]),
        [
          [typed, 'Typed', 'first', { value: 1 }, 'running'],
          [typed, 'Typed', 'second', { value: 2 }, 'running'],
          [typed, 'Typed', null, { value: 3 }, 'pending'],
        ],
      );
      assert.deepEqual(items[0]?.labels, { run: 'batch' });
      assert.equal((items[0]?.steps as unknown[] | undefined)?.length, 2);
      for (const [index, item] of items.slice(0, 2).entries()) {
        const done = await waitForExecution(server, item.id as string, ['completed']);
        assert.deepEqual(done.output, { doubled: (index + 1) * 2 });
      }
      const pending = await server.request('GET', `/executions/${items[2]?.id}`);
      assert.equal(pending.body.status, 'pending');
    });

    it('refuses the whole batch when one input is bad, naming each failing start', async () => {
      const before = await executionCount(typed);
      const response = await server.request('POST', `/workflows/${typed}/executions/batch`, {
        body: {
          executions: [{ input: { value: 1 } }, { input: { value: 'two' } }, { input: { value: 3 } }, { input: {} }],
        },
      });
      assertProblem(response, 400, 'VALIDATION_FAILED');
      const paths = (response.body.errors as Array<{ path: string }>).map((error) => error.path);
      assert.ok(
        paths.some((path) => path.startsWith('/executions/1')),
        JSON.stringify(paths),
      );
      assert.ok(
        paths.some((path) => path.startsWith('/executions/3')),
        JSON.stringify(paths),
      );
      assert.ok(
        paths.every((path) => path.startsWith('/executions/1') || path.startsWith('/executions/3')),
        JSON.stringify(paths),
      );
      assert.equal(await executionCount(typed), before);
    });

    it('checks the envelope: at least one start, at most 1,000, no unknown fields', async () => {
      const path = `/workflows/${other}/executions/batch`;
      assertProblem(await server.request('POST', path, { body: { executions: [] } }), 400, 'VALIDATION_FAILED');
      const tooMany = await server.request('POST', path, {
        body: { executions: Array.from({ length: 1001 }, () => ({ input: { value: 1 } })) },
      });
      assertProblem(tooMany, 400, 'VALIDATION_FAILED');
      const unknown = await server.request('POST', path, { body: { executions: [{ input: {}, colour: 'red' }] } });
      assertProblem(unknown, 400, 'VALIDATION_FAILED');
      assert.match(JSON.stringify(unknown.body.errors), /executions\/0/);
      assertProblem(await server.request('POST', path, { body: {} }), 400, 'VALIDATION_FAILED');
    });

    it('replays an idempotency key within the batch and across batches', async () => {
      const path = `/workflows/${other}/executions/batch`;
      const first = await server.request('POST', path, {
        body: {
          executions: [
            { input: { value: 1 }, idempotency_key: 'batch-a' },
            { input: { value: 2 }, idempotency_key: 'batch-b' },
            { input: { value: 3 }, idempotency_key: 'batch-a' },
          ],
        },
      });
      assert.equal(first.status, 202, first.text);
      const ids = (first.body.items as Array<{ id: string }>).map((item) => item.id);
      assert.equal(ids[2], ids[0]);
      assert.notEqual(ids[1], ids[0]);
      const again = await server.request('POST', path, {
        body: { executions: [{ input: { value: 9 }, idempotency_key: 'batch-b' }, { input: { value: 4 } }] },
      });
      assert.equal(again.status, 202, again.text);
      assert.equal(again.body.items[0].id, ids[1]);
      assert.deepEqual(again.body.items[0].input, { value: 2 });
      assert.notEqual(again.body.items[1].id, ids[1]);

      // A key that started another workflow refuses the batch, and the rest is not started.
      const count = await executionCount(typed);
      const conflict = await server.request('POST', `/workflows/${typed}/executions/batch`, {
        body: { executions: [{ input: { value: 5 } }, { input: { value: 6 }, idempotency_key: 'batch-a' }] },
      });
      assertProblem(conflict, 409, 'CONFLICT');
      assert.match(conflict.body.detail, /executions\/1/);
      assert.equal(await executionCount(typed), count);
    });

    it('answers 404 for a workflow of another workspace and for an unknown version', async () => {
      const workspace = (await server.request('POST', '/workspaces', { body: { slug: 'batch-b', name: 'B' } })).body;
      const key = await createKey(server, 'admin', workspace.id);
      const body = { executions: [{ input: { value: 1 } }] };
      assertProblem(
        await server.request('POST', `/workflows/${typed}/executions/batch`, { key, body }),
        404,
        'NOT_FOUND',
      );
      assertProblem(
        await server.request('POST', `/workflows/${typed}/executions/batch`, { body: { ...body, version: 99 } }),
        404,
        'NOT_FOUND',
      );
    });
  });
}
