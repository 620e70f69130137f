import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defineTask } from '../src/tasks/task-type.js';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { waitForExecution } from './helpers/http-fixtures.js';

/**
 * Claims at start (engine/start-claims.ts): executions started together have their root steps
 * inserted running on this process when it has room, the rest queued for a later claim. With
 * two slots, eight starts at once show one or two steps running in their start answers (two when
 * they arrive in one batch; a later batch may find the room taken by the claim the first one
 * woke), never more than two handlers at once (a step claimed past the slots waits for one), and
 * all eight complete with one attempt each and their events in order.
 */

/** A step that holds its slot until released, counting handlers in flight. */
function heldTask() {
  const state = { inFlight: 0, maxInFlight: 0, release: () => {} };
  let released = new Promise<void>((resolve) => {
    state.release = resolve;
  });
  const task = defineTask({
    type: 'test.held',
    description: 'Waits until the test releases it.',
    handler: async () => {
      state.inFlight += 1;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      await released;
      state.inFlight -= 1;
      return { ok: true };
    },
  });
  const reset = () => {
    released = new Promise<void>((resolve) => {
      state.release = resolve;
    });
  };
  return { task, state, reset };
}

for (const backend of testBackends()) {
  describe(`claims at start (${backend})`, () => {
    const held = heldTask();
    let server: TestServer;

    before(async () => {
      // The poll stays at its default: each poll wakes a claim, which may take the room first.
      server = await startTestServer(backend, { workerConcurrency: 2, workspaceSlotShare: 100 }, [held.task]);
    });
    after(async () => {
      held.state.release();
      await server.close();
    });

    it('starts the steps it has room for at once, queues the rest, and runs each once', async () => {
      const workflow = await server.request('POST', '/workflows', {
        body: { name: 'Held', steps: [{ id: 'hold', type: 'test.held' }] },
      });
      assert.equal(workflow.status, 201, workflow.text);
      const starts = await Promise.all(
        Array.from({ length: 8 }, () =>
          server.request('POST', `/workflows/${workflow.body.id}/executions`, { body: {} }),
        ),
      );
      for (const start of starts) assert.equal(start.status, 202, start.text);
      const statuses = starts.map((start) => start.body.steps[0].status as string);
      // The first batch of starts finds the engine idle with two slots: its steps are inserted
      // running. No handler has ended to free a slot, so never more than two.
      const runningAtStart = statuses.filter((status) => status === 'running').length;
      assert.ok(
        runningAtStart >= 1 && runningAtStart <= 2,
        `one or two steps start with their executions: ${statuses}`,
      );
      assert.ok(
        statuses.every((status) => status === 'running' || status === 'queued'),
        `a step is running or queued at start: ${statuses}`,
      );
      // Both slots fill (at start or by the claim that follows), and no more.
      for (let waited = 0; held.state.inFlight < 2 && waited < 5000; waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(held.state.inFlight, 2);
      held.state.release();
      for (const start of starts) {
        const done = await waitForExecution(server, start.body.id, ['completed', 'failed']);
        assert.equal(done.status, 'completed');
        const events = await server.request('GET', `/executions/${start.body.id}/events?order=asc&limit=50`);
        const types = (events.body.items as Array<{ type: string; data: { attempt?: number } }>).map(
          (event) => event.type,
        );
        assert.deepEqual(types, ['workflow.started', 'step.started', 'step.completed', 'workflow.completed']);
        const started = events.body.items.find((event: { type: string }) => event.type === 'step.started');
        assert.equal(started.data.attempt, 1);
      }
      assert.equal(held.state.maxInFlight, 2);
      held.reset();
    });
  });
}

for (const backend of testBackends()) {
  describe(`claims at start under a flood of starts (${backend})`, () => {
    let server: TestServer;

    before(async () => {
      // A short lease: an outcome left unsettled (its lease not renewed) for longer is lost.
      server = await startTestServer(backend, { leaseMs: 600, pollIntervalMs: 100 });
    });
    after(async () => {
      await server.close();
    });

    it('leases no more steps than it settles: every step runs once, none is lost', async () => {
      const workflow = await server.request('POST', '/workflows', {
        body: { name: 'Flood', steps: [{ id: 'only', type: 'noop' }] },
      });
      assert.equal(workflow.status, 201, workflow.text);
      const ids: string[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 40 }, async () => {
          while (next < 2000) {
            next += 1;
            const started = await server.request('POST', `/workflows/${workflow.body.id}/executions`, { body: {} });
            assert.equal(started.status, 202, started.text);
            ids.push(started.body.id);
          }
        }),
      );
      for (let waited = 0; ; waited += 100) {
        const running = await server.request(
          'GET',
          `/executions?workflow_id=${workflow.body.id}&status=running&limit=1`,
        );
        if (running.body.items.length === 0) break;
        assert.ok(waited < 60_000, 'the executions finish');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // Every attempt of the step, as its metrics count them: one completed per execution.
      const metrics = await server.request('GET', `/workflows/${workflow.body.id}/metrics`);
      assert.equal(metrics.status, 200, metrics.text);
      assert.equal(metrics.body.executions.by_status.completed, 2000);
      assert.deepEqual(metrics.body.steps[0].by_status, { completed: 2000 });
      assert.equal(ids.length, 2000);
    });
  });
}
