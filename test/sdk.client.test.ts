import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateSdkTypes, SDK_TYPES_DIR } from '../scripts/generate-sdk-types.js';
import { createClient, type Execution, WeftApiError, type WeftClient } from '../src/sdk/index.js';
import { simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { ROOT } from './helpers/processes.js';

describe('generated SDK types', () => {
  it(`${SDK_TYPES_DIR}/ matches the server's OpenAPI document`, async () => {
    const fresh = await generateSdkTypes();
    const checkedIn = (await readdir(path.join(ROOT, SDK_TYPES_DIR))).sort();
    const stale = `${SDK_TYPES_DIR}/ is out of date with the API routes: run \`npm run sdk:types\` and commit the result`;
    assert.deepEqual(checkedIn, [...fresh.keys()].sort(), stale);
    for (const [name, text] of fresh) {
      assert.ok((await readFile(path.join(ROOT, SDK_TYPES_DIR, name), 'utf8')) === text, `${name}: ${stale}`);
    }
  });
});

/** Throws unless `promise` rejects with a WeftApiError of this status and code; returns it. */
async function apiError(promise: Promise<unknown>, status: number, code: string): Promise<WeftApiError> {
  const error = await promise.then(
    () => assert.fail(`expected a ${status} ${code} answer`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof WeftApiError, `expected a WeftApiError, got ${String(error)}`);
  assert.equal(error.status, status, error.message);
  assert.equal(error.code, code, error.message);
  return error;
}

async function settled(client: WeftClient, id: string): Promise<Execution> {
  for (let tries = 0; tries < 200; tries++) {
    const { status } = await client.executions.status(id);
    if (['completed', 'failed', 'cancelled'].includes(status)) return client.executions.get(id);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`execution ${id} did not settle`);
}

for (const backend of testBackends()) {
  describe(`SDK client (${backend})`, () => {
    let server: TestServer;
    let client: WeftClient;
    before(async () => {
      server = await startTestServer(backend);
      client = createClient({ baseUrl: server.url, apiKey: server.adminKey });
    });
    after(() => server.close());

    it('creates, reads, lists, updates and validates workflows', async () => {
      const created = await client.workflows.create(simpleDefinition('SDK made'));
      assert.equal(created.version, 1);
      assert.equal((await client.workflows.get(created.id)).name, 'SDK made');
      const page = await client.workflows.list({ q: 'SDK made' });
      assert.deepEqual(
        page.items.map((item) => item.id),
        [created.id],
      );
      const updated = await client.workflows.update(created.id, simpleDefinition('SDK made', { description: 'v2' }));
      assert.equal(updated.version, 2);
      assert.equal((await client.workflows.get(created.id, { version: 1 })).version, 1);
      const patched = await client.workflows.patch(created.id, { labels: { team: 'sdk' } });
      assert.deepEqual(patched.labels, { team: 'sdk' });
      const report = await client.workflows.validate({ name: 'x', steps: [{ id: 'a', type: 'htp' }] });
      assert.equal(report.valid, false);
    });

    it('starts an execution and reads its status, steps, events and timeline', async () => {
      const workflow = await client.workflows.create(simpleDefinition('SDK run'));
      const started = await client.executions.start(workflow.id, { input: { value: 21 }, reference: 'sdk-1' });
      assert.equal(started.workflow_id, workflow.id);
      const execution = await settled(client, started.id);
      assert.equal(execution.status, 'completed');
      assert.deepEqual(execution.output, { doubled: 42 });
      assert.deepEqual(
        execution.steps?.map((step) => step.step_id),
        ['first', 'second'],
      );
      const events = await client.executions.events(started.id, { order: 'asc' });
      assert.equal(events.items[0]?.type, 'workflow.started');
      const timeline = await client.executions.timeline(started.id);
      assert.ok(JSON.stringify(timeline).includes('second'));
      const listed = await client.executions.list({ reference: 'sdk-1' });
      assert.deepEqual(
        listed.items.map((item) => item.id),
        [started.id],
      );
      const ofWorkflow = await client.workflows.executions(workflow.id, { status: 'completed', limit: 5 });
      assert.deepEqual(
        ofWorkflow.items.map((item) => item.id),
        [started.id],
      );
      await apiError(client.workflows.executions('wf_missing'), 404, 'NOT_FOUND');
      const adhoc = await client.executions.startAdhoc({ definition: simpleDefinition('inline'), input: { value: 1 } });
      assert.equal((await settled(client, adhoc.id)).status, 'completed');
      const batch = await client.executions.startBatch(workflow.id, {
        executions: [{ input: { value: 1 } }, { input: { value: 2 }, reference: 'sdk-batch' }],
      });
      assert.deepEqual(
        batch.items.map((item) => item.reference),
        [null, 'sdk-batch'],
      );
      assert.deepEqual((await settled(client, batch.items[1]?.id ?? '')).output, { doubled: 4 });
      await apiError(client.executions.startBatch(workflow.id, { executions: [] }), 400, 'VALIDATION_FAILED');
    });

    it('surfaces problems as WeftApiError with status, code and field errors', async () => {
      const missing = await apiError(client.workflows.get('wf_missing'), 404, 'NOT_FOUND');
      assert.equal(missing.problem?.status, 404);
      assert.match(missing.message, /GET \/api\/v1\/workflows\/wf_missing answered 404 NOT_FOUND/);
      const invalid = await apiError(
        client.workflows.create({ name: 'bad', steps: [{ id: 'a', type: 'nope' }] }),
        400,
        'DEFINITION_INVALID',
      );
      assert.equal(invalid.errors[0]?.path, '/steps/0/type');
      const workflow = await client.workflows.create(simpleDefinition('SDK lifecycle'));
      const execution = await settled(client, (await client.executions.start(workflow.id, { input: { value: 1 } })).id);
      await apiError(client.executions.cancel(execution.id), 409, 'CONFLICT');
      const stranger = createClient({ baseUrl: server.url, apiKey: 'weft_not_a_key' });
      await apiError(stranger.workflows.list(), 401, 'UNAUTHORIZED');
    });

    it('posts events, manages webhooks and reads stats', async () => {
      const workflow = await client.workflows.create({
        name: 'On upload',
        triggers: [{ event: 'sdk.uploaded', match: { kind: ['image'] } }],
        steps: [{ id: 'only', type: 'noop' }],
      });
      const outcome = await client.events.post({ type: 'sdk.uploaded', data: { kind: 'image' } });
      assert.equal(outcome.executions.length, 1);
      assert.deepEqual((await client.events.get(outcome.event_id)).executions, outcome.executions);
      assert.equal((await client.events.list({ type: 'sdk.uploaded' })).items[0]?.id, outcome.event_id);

      const hook = await client.webhooks.create({
        url: 'http://127.0.0.1:9/hook',
        event_types: ['workflow.completed'],
      });
      assert.match(hook.secret, /^whsec_/);
      assert.equal((await client.webhooks.get(hook.id)).url, 'http://127.0.0.1:9/hook');
      assert.equal((await client.webhooks.patch(hook.id, { enabled: false })).enabled, false);
      assert.ok((await client.webhooks.list()).items.some((item) => item.id === hook.id));
      assert.ok(Array.isArray((await client.webhooks.deliveries(hook.id)).items));
      await client.webhooks.delete(hook.id);
      await assert.rejects(client.webhooks.get(hook.id), (error: unknown) => error instanceof WeftApiError);

      const stats = await client.stats.executions({ workflow_id: workflow.id });
      assert.equal(stats.total, 1);
      assert.equal(stats.workflow_id, workflow.id);
      const metrics = await client.stats.workflow(workflow.id);
      assert.equal(metrics.executions.total, 1);
    });

    it('reads what the web UI lists: items, cleanup, templates, workers and queues, names and times', async () => {
      const templates = await client.templates.list();
      assert.ok(templates.items.length > 0);
      assert.equal(typeof templates.items[0]?.name, 'string');

      const workflow = await client.workflows.create({
        name: 'SDK items',
        steps: [{ id: 'each', type: 'noop', for_each: '{{ [1, 2, 3] }}', input: { n: '{{ item }}' } }],
      });
      const started = await client.executions.start(workflow.id, {});
      assert.equal(started.workflow_name, 'SDK items');
      await settled(client, started.id);
      const items = await client.executions.items(started.id, 'each', { limit: 2 });
      assert.deepEqual(
        items.items.map((item) => item.index),
        [0, 1],
      );
      const rest = await client.executions.items(started.id, 'each', { cursor: items.next_cursor ?? '' });
      assert.deepEqual(
        rest.items.map((item) => item.output),
        [{ n: 3 }],
      );
      const window = await client.executions.list({ workflow_id: workflow.id, created_after: started.created_at });
      assert.deepEqual(
        window.items.map((item) => [item.id, item.workflow_name]),
        [[started.id, 'SDK items']],
      );
      const listed = await client.workflows.list({ q: 'SDK items' });
      assert.equal(listed.items[0]?.last_execution?.id, started.id);
      const cleaned = await client.executions.cleanup(started.id, { delete_artifacts: true });
      assert.notEqual(cleaned.execution.deleted_at, null);
      assert.deepEqual(cleaned.cleanup.artifacts_deleted, []);

      await client.taskTypes.declare('sdk.queued');
      await client.executions.startAdhoc({ definition: { name: 'waits', steps: [{ id: 'w', type: 'sdk.queued' }] } });
      const type = await client.taskTypes.get('sdk.queued');
      assert.deepEqual([type.queued, type.running], [1, 0]);
      await client.tasks.poll({ worker_id: 'sdk-seen', types: ['sdk.queued'] });
      const workers = await client.workers.list({ active: true });
      assert.deepEqual(
        workers.items.map((worker) => [worker.worker_id, worker.types]),
        [['sdk-seen', ['sdk.queued']]],
      );
      assert.equal((await client.taskTypes.list()).items.find((item) => item.type === 'sdk.queued')?.running, 1);
    });

    it('accepts a base URL ending in /api/v1 and exposes the raw client', async () => {
      const prefixed = createClient({ baseUrl: `${server.url}/api/v1/`, apiKey: server.adminKey });
      const { data, response } = await prefixed.raw.GET('/api/v1/templates');
      assert.equal(response.status, 200);
      assert.ok((data?.items.length ?? 0) > 0);
    });
  });
}
