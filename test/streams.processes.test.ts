import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ApiResponse, sendRequest, simpleDefinition } from './helpers/api-server.js';
import { createTestDatabase, postgresOnly, type TestDatabase, testBackends } from './helpers/backends.js';
import { type FixtureServer, startFixtureServer, waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe } from './helpers/processes.js';
import { eventsOf, openStream, type StreamClient } from './helpers/stream-client.js';

/**
 * Streams across processes: two `weft serve` processes on one PostgreSQL database; a client
 * subscribed to one sees every event of executions the other one started and ran (the database
 * announces each committed event to every process).
 */

const ADMIN_KEY = 'streams-processes-admin-key-0123456789';

for (const backend of testBackends()) {
  describe(`streams across processes (${backend})`, () => {
    const skip = postgresOnly(backend, 'several processes share one database only on PostgreSQL');
    let database: TestDatabase | undefined;
    let fixture: FixtureServer;
    let watcher: ServeProcess;
    let runner: ServeProcess;
    const held: Array<() => void> = [];
    const streams: StreamClient[] = [];

    const api = (target: ServeProcess, method: string, path: string, body?: unknown): Promise<ApiResponse> =>
      sendRequest(target.url, method, path, { key: ADMIN_KEY, body });
    const eventLog = async (id: string) => {
      const response = await api(runner, 'GET', `/executions/${id}/events?order=asc&limit=200`);
      return response.body.items as Array<{ id: string; type: string }>;
    };
    const waitForStatus = (id: string, status: string) =>
      waitUntil(
        async () => (await api(runner, 'GET', `/executions/${id}`)).body.status === status,
        `execution ${id} to be ${status}`,
        20_000,
      );
    const watch = async (path: string) => {
      const client = await openStream(watcher.url, path, ADMIN_KEY);
      streams.push(client);
      return client;
    };

    before(async () => {
      if (skip.skip) return;
      database = await createTestDatabase(backend, { migrated: true });
      fixture = await startFixtureServer(
        () =>
          new Promise((resolve) => {
            held.push(() => resolve({ json: { ok: true } }));
          }),
      );
      const env = {
        WEFT_DATABASE_URL: database.config.databaseUrl,
        WEFT_DATA_DIR: database.config.dataDir,
        WEFT_ADMIN_KEY: ADMIN_KEY,
        WEFT_POLL_INTERVAL_MS: '200',
        WEFT_LOG_LEVEL: 'warn',
      };
      watcher = await startServe(env);
      runner = await startServe(env);
    });
    after(async () => {
      for (const client of streams) await client.close();
      while (held.length > 0) held.shift()?.();
      await watcher?.stop();
      await runner?.stop();
      await fixture?.close();
      await database?.drop();
    });

    it('streams, on one process, every event of an execution another process starts and runs', skip, async () => {
      const big = 'x'.repeat(10_000);
      const definition = {
        ...simpleDefinition('Across processes'),
        steps: [
          ...simpleDefinition().steps,
          // Its event is too large for one NOTIFY (8 kB): the announcement is completed from the table.
          { id: 'large', type: 'transform', input: { expression: '$', data: big }, depends_on: ['second'] },
        ],
      };
      const workflow = await api(runner, 'POST', '/workflows', definition);
      assert.equal(workflow.status, 201, workflow.text);
      const created = await api(runner, 'POST', `/workflows/${workflow.body.id}/executions`, {
        input: { value: 4 },
        start: false,
      });
      const id = created.body.id as string;
      const client = await watch(`/executions/${id}/stream`);
      const everything = await watch('/stream');
      await client.waitFor((message) => message.type === 'execution.snapshot', 'the snapshot');
      await everything.waitFor((message) => message.type === 'stream.snapshot', 'the workspace snapshot');

      assert.equal((await api(runner, 'POST', `/executions/${id}/start`)).status, 200);
      await client.waitFor((message) => message.type === 'workflow.completed', 'workflow.completed', 20_000);
      const log = await eventLog(id);
      assert.deepEqual(
        eventsOf(client).map((message) => message.id),
        log.map((event) => event.id),
      );
      const large = eventsOf(client).find(
        (message) => message.type === 'step.completed' && message.data.step_id === 'large',
      );
      assert.equal(large?.data.output, big, 'the large output arrives whole');
      await everything.waitFor((message) => message.type === 'workflow.completed', 'workflow.completed (workspace)');
      assert.deepEqual(
        eventsOf(everything).map((message) => message.id),
        log.map((event) => event.id),
      );
    });

    it('gives a late subscriber on one process the state of an execution running on another first', skip, async () => {
      const workflow = await api(runner, 'POST', '/workflows', {
        name: 'Held across processes',
        steps: [
          { id: 'fetch', type: 'http', input: { url: `${fixture.url}/hold` } },
          { id: 'after', type: 'noop', input: {}, depends_on: ['fetch'] },
        ],
      });
      const started = await api(runner, 'POST', `/workflows/${workflow.body.id}/executions`, { input: {} });
      const id = started.body.id as string;
      await waitUntil(() => held.length === 1, 'the fetch step to reach the fixture', 20_000);
      const before = await eventLog(id);

      const client = await watch(`/executions/${id}/stream`);
      const snapshot = await client.waitFor((message) => message.type === 'execution.snapshot', 'the snapshot');
      assert.equal(client.messages[0], snapshot);
      assert.equal(snapshot.data.status, 'running');
      held.shift()?.();
      await waitForStatus(id, 'completed');
      await client.waitFor((message) => message.type === 'workflow.completed', 'workflow.completed', 20_000);
      const log = await eventLog(id);
      assert.deepEqual(
        eventsOf(client).map((message) => message.id),
        log.slice(before.length).map((event) => event.id),
      );
    });
  });
}
