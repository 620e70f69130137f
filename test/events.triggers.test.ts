import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { waitForExecution } from './helpers/http-fixtures.js';

/**
 * Event triggers (issue 5): seed-style media uploads start the workflows whose triggers match —
 * `match` by dotted path with any-of arrays, a subset under `metadata`, a JSONata `condition` —
 * and an Idempotency-Key makes a repeated post start nothing new.
 */

const autoProcessImages = {
  name: 'Auto Process Images',
  triggers: [
    {
      event: 'file.uploaded',
      match: { media_type: ['image'], folder_id: ['folder-a', 'folder-b'] },
      condition: 'data.size < 10000000',
    },
  ],
  steps: [
    { id: 'moderate', type: 'noop', input: { file: '{{ input.file_id }}' } },
    { id: 'tag', type: 'transform', input: { expression: '$uppercase(name)', data: '{{ input }}' } },
  ],
  output: { file: '{{ steps.moderate.output.file }}', tag: '{{ steps.tag.output }}' },
};

const cameraArchive = {
  name: 'Camera archive',
  triggers: [{ event: 'file.uploaded', match: { metadata: { source: 'camera', album: ['trips', 'family'] } } }],
  steps: [{ id: 'archive', type: 'noop', input: { file: '{{ input.file_id }}' } }],
};

const upload = (extra: Record<string, unknown>) => ({
  type: 'file.uploaded',
  data: { file_id: 'file-1', name: 'cat.png', media_type: 'image', folder_id: 'folder-a', size: 1200, ...extra },
});

for (const backend of testBackends()) {
  describe(`event triggers (${backend})`, () => {
    let server: TestServer;
    let imagesId = '';
    let archiveId = '';

    before(async () => {
      server = await startTestServer(backend);
      imagesId = (await server.request('POST', '/workflows', { body: autoProcessImages })).body.id;
      archiveId = (await server.request('POST', '/workflows', { body: cameraArchive })).body.id;
    });
    after(() => server.close());

    const post = (body: unknown, headers: Record<string, string> = {}) =>
      server.request('POST', '/events', { body, headers });
    const workflowsStartedBy = async (executions: string[]) => {
      const started = [];
      for (const id of executions) started.push((await server.request('GET', `/executions/${id}`)).body.workflow_id);
      return started.sort();
    };

    it('starts the image workflow for an image in a listed folder, with the event as input', async () => {
      const response = await post(upload({}));
      assert.equal(response.status, 202, response.text);
      assert.equal(response.body.executions.length, 1);
      const execution = await waitForExecution(server, response.body.executions[0], ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      assert.equal(execution.workflow_id, imagesId);
      assert.equal(execution.input.file_id, 'file-1');
      assert.deepEqual(execution.output, { file: 'file-1', tag: 'CAT.PNG' });
      assert.equal(execution.trigger.event_id, response.body.event_id);
      assert.equal(execution.trigger.type, 'event');
    });

    it('starts nothing for a video, another folder, another event type or a file too large', async () => {
      for (const body of [
        upload({ media_type: 'video' }),
        upload({ folder_id: 'folder-z' }),
        upload({ size: 20_000_000 }),
        { ...upload({}), type: 'file.deleted' },
        upload({ media_type: undefined }),
      ]) {
        const response = await post(body);
        assert.equal(response.status, 202, response.text);
        assert.deepEqual(response.body.executions, [], JSON.stringify(body));
      }
    });

    it('matches a subset under metadata, with any-of arrays inside', async () => {
      const matching = await post(
        upload({ folder_id: 'folder-z', metadata: { source: 'camera', album: 'family', iso: 100 } }),
      );
      assert.deepEqual(await workflowsStartedBy(matching.body.executions), [archiveId]);
      const both = await post(upload({ metadata: { source: 'camera', album: 'trips' } }));
      assert.deepEqual(await workflowsStartedBy(both.body.executions), [imagesId, archiveId].sort());
      for (const metadata of [{ source: 'scanner', album: 'trips' }, { source: 'camera', album: 'work' }, 'camera']) {
        const response = await post(upload({ folder_id: 'folder-z', metadata }));
        assert.deepEqual(response.body.executions, [], JSON.stringify(metadata));
      }
    });

    it('returns the first answer for a repeated Idempotency-Key and starts nothing new', async () => {
      const first = await post(upload({ file_id: 'file-idem' }), { 'idempotency-key': 'upload-42' });
      const again = await post(upload({ file_id: 'file-idem' }), { 'idempotency-key': 'upload-42' });
      assert.equal(again.status, 202);
      assert.equal(again.body.event_id, first.body.event_id);
      assert.deepEqual(again.body.executions, first.body.executions);
      assert.equal(again.body.repeated, true);
      const byField = await post({ ...upload({ file_id: 'file-idem' }), idempotency_key: 'upload-42' });
      assert.equal(byField.body.event_id, first.body.event_id);
      const listed = await server.request('GET', `/executions?workflow_id=${imagesId}&limit=200`);
      const idem = [];
      for (const item of listed.body.items) if (item.input.file_id === 'file-idem') idem.push(item.id);
      assert.equal(idem.length, 1);
      assertProblem(await post({ type: 'other.type', data: {} }, { 'idempotency-key': 'upload-42' }), 409, 'CONFLICT');
    });

    it('starts no disabled or deleted workflow, and picks up a changed trigger', async () => {
      await server.request('PATCH', `/workflows/${imagesId}`, { body: { enabled: false } });
      assert.deepEqual((await post(upload({}))).body.executions, []);
      await server.request('PATCH', `/workflows/${imagesId}`, { body: { enabled: true } });
      assert.equal((await post(upload({}))).body.executions.length, 1);

      const changed = { ...cameraArchive, triggers: [{ event: 'photo.taken' }] };
      assert.equal((await server.request('PUT', `/workflows/${archiveId}`, { body: changed })).status, 200);
      assert.deepEqual((await post(upload({ folder_id: 'x', metadata: { source: 'camera' } }))).body.executions, []);
      assert.equal((await post({ type: 'photo.taken', data: { file_id: 'p' } })).body.executions.length, 1);
      assert.equal((await server.request('DELETE', `/workflows/${archiveId}?cancel_running=true`)).status, 204);
      assert.deepEqual((await post({ type: 'photo.taken', data: {} })).body.executions, []);
    });

    it('reports a matching workflow whose input_schema rejects the data as skipped', async () => {
      const strict = {
        name: 'Strict',
        input_schema: { type: 'object', required: ['owner'], properties: { owner: { type: 'string' } } },
        triggers: [{ event: 'doc.signed' }],
        steps: [{ id: 'only', type: 'noop' }],
      };
      const id = (await server.request('POST', '/workflows', { body: strict })).body.id;
      const rejected = await post({ type: 'doc.signed', data: { pages: 3 } });
      assert.deepEqual(rejected.body.executions, []);
      assert.equal(rejected.body.skipped[0].workflow_id, id);
      assert.match(rejected.body.skipped[0].reason, /owner/);
      assert.equal((await post({ type: 'doc.signed', data: { owner: 'ann' } })).body.executions.length, 1);
    });

    it('stores events, lists them newest first and shows one with its executions', async () => {
      const posted = await post({ type: 'audit.ping', data: { n: 1 } });
      const list = await server.request('GET', '/events?type=audit.ping');
      assert.equal(list.status, 200);
      assert.equal(list.body.items[0].id, posted.body.event_id);
      assert.deepEqual(list.body.items[0].data, { n: 1 });
      const image = await post(upload({ file_id: 'file-shown' }));
      const shown = await server.request('GET', `/events/${image.body.event_id}`);
      assert.deepEqual(shown.body.executions, image.body.executions);
      const all = await server.request('GET', '/events?limit=2');
      assert.equal(all.body.items.length, 2);
      assert.equal(typeof all.body.next_cursor, 'string');
      assertProblem(await server.request('GET', '/events/ev_missing'), 404, 'NOT_FOUND');
      assertProblem(await post({ data: {} }), 400, 'VALIDATION_FAILED');
      assertProblem(await post({ type: 'has space', data: {} }), 400, 'VALIDATION_FAILED');
    });
  });
}
