import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { type FixtureServer, startFixtureServer, waitForExecution, waitUntil } from './helpers/http-fixtures.js';
import { eventsOf, openStream, type StreamClient } from './helpers/stream-client.js';

/**
 * Live streams on one server: every event of an execution in commit order, the current state
 * first for a late subscriber, the workspace stream and its workflow filter. The expected events
 * are always the execution's own event log (`GET /executions/{id}/events`), never a list typed here.
 */

/** A two-step workflow whose first step waits on the fixture server until the test releases it. */
function heldDefinition(url: string, name: string) {
  return {
    name,
    steps: [
      { id: 'fetch', type: 'http', input: { url: `${url}/hold` } },
      { id: 'after', type: 'noop', input: { status: '{{ steps.fetch.output.status }}' } },
    ],
  };
}

for (const backend of testBackends()) {
  describe(`streams (${backend})`, () => {
    let server: TestServer;
    let fixture: FixtureServer;
    const held: Array<() => void> = [];
    const streams: StreamClient[] = [];

    /** Releases the oldest held request of the fixture. */
    const release = () => held.shift()?.();
    const stream = async (path: string) => {
      const client = await openStream(server.url, path, server.adminKey);
      streams.push(client);
      return client;
    };
    const eventLog = async (id: string) => {
      const response = await server.request('GET', `/executions/${id}/events?order=asc&limit=200`);
      return response.body.items as Array<{ id: string; type: string; step_id: string | null }>;
    };
    const createWorkflow = async (definition: unknown) => {
      const response = await server.request('POST', '/workflows', { body: definition });
      assert.equal(response.status, 201, response.text);
      return response.body.id as string;
    };

    before(async () => {
      fixture = await startFixtureServer(
        () =>
          new Promise((resolve) => {
            held.push(() => resolve({ json: { ok: true } }));
          }),
      );
      server = await startTestServer(backend, { pollIntervalMs: 100 });
    });
    after(async () => {
      for (const client of streams) await client.close();
      while (held.length > 0) release();
      await server.close();
      await fixture.close();
    });

    it('sends workflow.started, every step event and workflow.completed in order to a subscriber from before the start', async () => {
      const workflowId = await createWorkflow(simpleDefinition('Streamed'));
      const created = await server.request('POST', `/workflows/${workflowId}/executions`, {
        body: { input: { value: 21 }, start: false },
      });
      const id = created.body.id as string;
      const client = await stream(`/executions/${id}/stream`);
      const snapshot = await client.waitFor((message) => message.type === 'execution.snapshot', 'the snapshot');
      assert.equal(client.messages[0], snapshot, 'the snapshot comes first');
      assert.equal(snapshot.data.status, 'pending');
      assert.equal(snapshot.data.execution.id, id);
      assert.deepEqual(
        snapshot.data.execution.steps.map((step: { step_id: string; status: string }) => [step.step_id, step.status]),
        [
          ['first', 'pending'],
          ['second', 'pending'],
        ],
      );

      assert.equal((await server.request('POST', `/executions/${id}/start`)).status, 200);
      await client.waitFor((message) => message.type === 'workflow.completed', 'workflow.completed');
      const log = await eventLog(id);
      const streamed = eventsOf(client);
      assert.deepEqual(
        streamed.map((message) => message.id),
        log.map((event) => event.id),
        'every event of the log, once each, in its order',
      );
      assert.deepEqual(
        streamed.map((message) => [message.type, message.data.step_id ?? null]),
        [
          ['workflow.started', null],
          ['step.started', 'first'],
          ['step.completed', 'first'],
          ['step.started', 'second'],
          ['step.completed', 'second'],
          ['workflow.completed', null],
        ],
      );
      for (const message of streamed) {
        assert.equal(message.data.execution_id, id);
        assert.equal(message.data.workflow_id, workflowId);
        assert.equal(typeof message.data.status, 'string');
        assert.ok(!Number.isNaN(Date.parse(message.timestamp)));
      }
      const completed = streamed.at(-1);
      assert.deepEqual(completed?.data.output, { doubled: 42 });
      assert.deepEqual(streamed[2]?.data.output, { value: 21 }, 'step.completed carries the output');
    });

    it('gives a subscriber that joins mid-run the current state first, then only what follows', async () => {
      const workflowId = await createWorkflow(heldDefinition(fixture.url, 'Held'));
      const started = await server.request('POST', `/workflows/${workflowId}/executions`, { body: { input: {} } });
      const id = started.body.id as string;
      await waitForExecution(server, id, ['running']);
      await waitUntil(() => held.length === 1, 'the fetch step to reach the fixture');
      const before = (await eventLog(id)).map((event) => event.id);

      const client = await stream(`/executions/${id}/stream`);
      const snapshot = await client.waitFor((message) => message.type === 'execution.snapshot', 'the snapshot');
      assert.equal(client.messages[0], snapshot);
      assert.equal(snapshot.data.status, 'running');
      const steps = Object.fromEntries(
        snapshot.data.execution.steps.map((step: { step_id: string; status: string }) => [step.step_id, step.status]),
      );
      assert.deepEqual(steps, { fetch: 'running', after: 'pending' });

      release();
      await client.waitFor((message) => message.type === 'workflow.completed', 'workflow.completed');
      const log = (await eventLog(id)).map((event) => event.id);
      const streamed = eventsOf(client).map((message) => message.id);
      assert.deepEqual(streamed, log.slice(before.length), 'exactly the events after the snapshot, in order');
      assert.deepEqual(
        eventsOf(client).map((message) => [message.type, message.data.step_id ?? null]),
        [
          ['step.completed', 'fetch'],
          ['step.started', 'after'],
          ['step.completed', 'after'],
          ['workflow.completed', null],
        ],
      );
    });

    it('misses and repeats nothing when subscribers join while events are being committed', async () => {
      const steps = Array.from({ length: 40 }, (_, index) => ({ id: `s${index}`, type: 'noop', input: { index } }));
      const workflowId = await createWorkflow({ name: 'Busy chain', sequential: true, steps });
      const started = await server.request('POST', `/workflows/${workflowId}/executions`, { body: { input: {} } });
      const id = started.body.id as string;
      const clients: StreamClient[] = [];
      for (let index = 0; index < 4; index += 1) {
        clients.push(await stream(`/executions/${id}/stream`));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await waitForExecution(server, id, ['completed']);
      const log = await eventLog(id);
      for (const client of clients) {
        await client.waitFor((message) => message.type === 'workflow.completed', 'workflow.completed');
        const snapshot = client.messages[0];
        assert.equal(snapshot?.type, 'execution.snapshot');
        const streamed = eventsOf(client).map((message) => message.id);
        const covered = log.slice(0, log.length - streamed.length);
        assert.deepEqual(
          streamed,
          log.slice(covered.length).map((event) => event.id),
          'a gapless suffix of the log',
        );
        // The snapshot shows at least what the events before it did, and at most what followed.
        const completedIn = (events: typeof log) => events.filter((event) => event.type === 'step.completed').length;
        const shown = snapshot?.data.execution.steps.filter((step: { status: string }) => step.status === 'completed');
        assert.ok(shown.length >= completedIn(covered), `${shown.length} >= ${completedIn(covered)}`);
        assert.ok(shown.length <= completedIn(log), `${shown.length} <= ${completedIn(log)}`);
      }
    });

    it('streams a whole workspace, filtered by workflow, with its active executions first', async () => {
      const heldWorkflow = await createWorkflow(heldDefinition(fixture.url, 'Held for the workspace stream'));
      const other = await createWorkflow(simpleDefinition('Not in the filter'));
      const active = await server.request('POST', `/workflows/${heldWorkflow}/executions`, { body: { input: {} } });
      await waitUntil(() => held.length === 1, 'the fetch step to reach the fixture');

      const filtered = await stream(`/stream?workflow_id=${heldWorkflow}`);
      const everything = await stream('/stream');
      const snapshot = await filtered.waitFor((message) => message.type === 'stream.snapshot', 'the snapshot');
      assert.equal(filtered.messages[0], snapshot);
      assert.equal(snapshot.data.workflow_id, heldWorkflow);
      assert.equal(snapshot.data.truncated, false);
      assert.deepEqual(
        snapshot.data.executions.map((execution: { id: string; status: string }) => [execution.id, execution.status]),
        [[active.body.id, 'running']],
      );
      await everything.waitFor((message) => message.type === 'stream.snapshot', 'the unfiltered snapshot');

      const unrelated = await server.request('POST', `/workflows/${other}/executions`, {
        body: { input: { value: 1 } },
      });
      await waitForExecution(server, unrelated.body.id, ['completed']);
      release();
      await waitForExecution(server, active.body.id, ['completed']);
      await filtered.waitFor(
        (message) => message.type === 'workflow.completed' && message.data.execution_id === active.body.id,
        'the held execution to complete',
      );
      await everything.waitFor(
        (message) => message.type === 'workflow.completed' && message.data.execution_id === active.body.id,
        'the held execution to complete (unfiltered)',
      );

      const activeLog = await eventLog(active.body.id);
      const unrelatedLog = await eventLog(unrelated.body.id);
      const filteredIds = eventsOf(filtered).map((message) => message.id);
      const seenBefore = activeLog.filter((event) => !filteredIds.includes(event.id)).map((event) => event.type);
      assert.deepEqual(seenBefore, ['workflow.started', 'step.started'], 'covered by the snapshot, not repeated');
      assert.deepEqual(
        filteredIds,
        activeLog.slice(2).map((event) => event.id),
        'the rest of the held execution, in order',
      );
      assert.ok(
        eventsOf(filtered).every((message) => message.data.workflow_id === heldWorkflow),
        'the filter keeps other workflows out',
      );
      const everythingIds = new Set(eventsOf(everything).map((message) => message.id));
      for (const event of unrelatedLog) assert.ok(everythingIds.has(event.id), `unfiltered stream has ${event.type}`);
    });
  });
}
