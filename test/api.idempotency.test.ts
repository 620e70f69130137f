import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';

/**
 * `Idempotency-Key` on starting executions (SPEC §3): a repeated start within 24 hours returns the
 * first execution and creates nothing, also when the repeats arrive at the same time.
 */
for (const backend of testBackends()) {
  describe(`idempotent starts (${backend})`, () => {
    let server: TestServer;
    let workflowId = '';
    let otherId = '';

    before(async () => {
      server = await startTestServer(backend);
      workflowId = (await server.request('POST', '/workflows', { body: simpleDefinition('Idempotent') })).body.id;
      otherId = (await server.request('POST', '/workflows', { body: simpleDefinition('Other') })).body.id;
    });
    after(() => server.close());

    const start = (key: string, id = workflowId, body: Record<string, unknown> = {}) =>
      server.request('POST', `/workflows/${id}/executions`, {
        body: { input: { value: 1 }, ...body },
        headers: { 'idempotency-key': key },
      });
    const countOf = async (id: string) =>
      (await server.request('GET', `/executions?workflow_id=${id}&limit=200`)).body.items.length;

    it('returns the first execution for a repeated key and starts nothing new', async () => {
      const before = await countOf(workflowId);
      const first = await start('order-1');
      assert.equal(first.status, 202, first.text);
      assert.equal(first.headers.get('idempotent-replayed'), null);
      const again = await start('order-1', workflowId, { input: { value: 2 } });
      assert.equal(again.status, 202);
      assert.equal(again.body.id, first.body.id);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      const byField = await server.request('POST', `/workflows/${workflowId}/executions`, {
        body: { input: { value: 1 }, idempotency_key: 'order-1' },
      });
      assert.equal(byField.body.id, first.body.id);
      assert.equal(await countOf(workflowId), before + 1);
    });

    it('creates one execution for concurrent starts with one key', async () => {
      const before = await countOf(workflowId);
      const answers = await Promise.all(Array.from({ length: 8 }, () => start('burst-7')));
      assert.ok(answers.every((answer) => answer.status === 202));
      assert.equal(new Set(answers.map((answer) => answer.body.id)).size, 1);
      assert.equal(await countOf(workflowId), before + 1);
    });

    it('refuses a key reused for another workflow, and keeps ad-hoc runs idempotent too', async () => {
      await start('shared-key');
      assertProblem(await start('shared-key', otherId), 409, 'CONFLICT');
      const definition = { name: 'adhoc', steps: [{ id: 'a', type: 'noop' }] };
      const first = await server.request('POST', '/executions', {
        body: { definition },
        headers: { 'idempotency-key': 'adhoc-1' },
      });
      const again = await server.request('POST', '/executions', { body: { definition, idempotency_key: 'adhoc-1' } });
      assert.equal(again.body.id, first.body.id);
      assertProblem(
        await server.request('POST', '/executions', { body: { definition, idempotency_key: 5 } }),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('keeps keys apart between workspaces', async () => {
      const workspace = await server.request('POST', '/workspaces', { body: { slug: 'idem-b', name: 'B' } });
      const inB = { 'x-workspace-id': workspace.body.id };
      const theirs = (await server.request('POST', '/workflows', { body: simpleDefinition('B'), headers: inB })).body
        .id;
      const mine = await start('same-key');
      const other = await server.request('POST', `/workflows/${theirs}/executions`, {
        body: { input: { value: 1 } },
        headers: { ...inB, 'idempotency-key': 'same-key' },
      });
      assert.equal(other.status, 202, other.text);
      assert.notEqual(other.body.id, mine.body.id);
    });
  });
}
