import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, createKey, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { waitForExecution } from './helpers/http-fixtures.js';
import { eventsOf, openStream, type StreamClient } from './helpers/stream-client.js';

/**
 * Streams authenticate like the API (header, or `token` for browsers) and keep workspaces apart.
 * Refusals come after the upgrade, as an `error` message with the problem and a 4000 + status
 * close code, so a browser can tell a bad key from a dead server.
 */

for (const backend of testBackends()) {
  describe(`stream authentication (${backend})`, () => {
    let server: TestServer;
    let executionId: string;
    let otherMember: string;
    const streams: StreamClient[] = [];

    const open = async (path: string, key?: string) => {
      const client = await openStream(server.url, path, key);
      streams.push(client);
      return client;
    };
    /** Asserts the stream was refused with this status and registered code. */
    const assertRefused = async (client: StreamClient, status: number, code: string) => {
      const closed = await client.waitClosed();
      assert.equal(closed.code, 4000 + status);
      assert.match(closed.reason, new RegExp(`^${code}: `));
      assert.equal(client.messages.length, 1, 'only the error is sent');
      const [error] = client.messages;
      assert.equal(error?.type, 'error');
      assert.equal(error?.data.status, status);
      assert.equal(error?.data.code, code);
      assert.match(error?.data.type, /^urn:weft:problem:/);
      return error?.data.detail as string;
    };

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 100 });
      const workflow = await server.request('POST', '/workflows', { body: simpleDefinition('Private') });
      const started = await server.request('POST', `/workflows/${workflow.body.id}/executions`, {
        body: { input: { value: 1 }, start: false },
      });
      executionId = started.body.id;
      const other = await server.request('POST', '/workspaces', { body: { slug: 'other-team', name: 'Other' } });
      assert.equal(other.status, 201, other.text);
      otherMember = await createKey(server, 'member', other.body.id);
    });
    after(async () => {
      for (const client of streams) await client.close();
      await server.close();
    });

    it('accepts the key as a token query parameter (browsers cannot set headers)', async () => {
      const client = await open(`/executions/${executionId}/stream?token=${encodeURIComponent(server.adminKey)}`);
      const snapshot = await client.waitFor((message) => message.type === 'execution.snapshot', 'the snapshot');
      assert.equal(snapshot.data.execution_id, executionId);
      assert.equal(client.closed, undefined);
    });

    it('accepts a member key in the Authorization header', async () => {
      const member = await createKey(server, 'member');
      const client = await open('/stream', member);
      await client.waitFor((message) => message.type === 'stream.snapshot', 'the snapshot');
    });

    it('refuses a stream without a key, or with an unknown one, with 4401', async () => {
      const detail = await assertRefused(await open(`/executions/${executionId}/stream`), 401, 'UNAUTHORIZED');
      assert.match(detail, /token/, 'the error says how browsers pass the key');
      await assertRefused(await open('/stream?token=not-a-key'), 401, 'UNAUTHORIZED');
    });

    it('refuses worker keys with 4403', async () => {
      const worker = await createKey(server, 'worker');
      await assertRefused(await open('/stream', worker), 403, 'FORBIDDEN');
    });

    it("answers another workspace's execution with 4404, and its workspace stream shows nothing of ours", async () => {
      const detail = await assertRefused(
        await open(`/executions/${executionId}/stream`, otherMember),
        404,
        'NOT_FOUND',
      );
      assert.equal(detail, `execution '${executionId}' was not found`);

      const foreign = await open('/stream', otherMember);
      const snapshot = await foreign.waitFor((message) => message.type === 'stream.snapshot', 'the snapshot');
      assert.deepEqual(snapshot.data.executions, []);
      const own = await open('/stream', server.adminKey);
      const ownSnapshot = await own.waitFor((message) => message.type === 'stream.snapshot', 'our snapshot');
      assert.ok(ownSnapshot.data.executions.some((execution: { id: string }) => execution.id === executionId));

      assert.equal((await server.request('POST', `/executions/${executionId}/start`)).status, 200);
      await waitForExecution(server, executionId, ['completed']);
      await own.waitFor((message) => message.type === 'workflow.completed', 'our workflow.completed');
      assert.deepEqual(eventsOf(foreign), [], 'no event of another workspace');
    });

    it('answers a plain GET (no upgrade) and a bad query with problem+json before any upgrade', async () => {
      assertProblem(await server.request('GET', '/stream'), 400, 'MALFORMED_REQUEST');
      assertProblem(await server.request('GET', `/executions/${executionId}/stream`), 400, 'MALFORMED_REQUEST');
      await assert.rejects(openStream(server.url, '/stream?bogus=1', server.adminKey), /refused with 400/);
    });

    it('keeps the WebSocket routes out of the OpenAPI document (docs/streams.md describes them)', async () => {
      const document = await server.request('GET', '!/openapi.json');
      const paths = Object.keys(document.body.paths);
      assert.ok(paths.includes('/api/v1/executions/stats'));
      assert.ok(!paths.some((path) => path.endsWith('/stream')), paths.join(', '));
    });
  });
}
