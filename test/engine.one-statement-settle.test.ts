import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defineTask } from '../src/tasks/task-type.js';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { waitForExecution } from './helpers/http-fixtures.js';

/**
 * The settle of a completed step in one statement (PostgreSQL, engine/settle-in-one-statement.ts)
 * must leave what the settle transaction leaves: the same outputs, statuses, attempts and events,
 * the same metrics, and the engine's own decisions where the statement cannot make them (a ready
 * step of a paused execution is queued, not run). On SQLite the settle is always the transaction:
 * the same assertions hold.
 */

/** A diamond with a leaf: a → (b, c) → d → e, and a → f; values flow through every edge. */
const DIAMOND = {
  name: 'Diamond',
  steps: [
    { id: 'a', type: 'transform', input: { expression: '$ + 1', data: '{{ input.n }}' } },
    { id: 'b', type: 'transform', depends_on: ['a'], input: { expression: '$ * 2', data: '{{ steps.a.output }}' } },
    { id: 'c', type: 'transform', depends_on: ['a'], input: { expression: '$ * 3', data: '{{ steps.a.output }}' } },
    {
      id: 'd',
      type: 'transform',
      depends_on: ['b', 'c'],
      input: { expression: 'b + c', data: { b: '{{ steps.b.output }}', c: '{{ steps.c.output }}' } },
    },
    { id: 'e', type: 'noop', depends_on: ['d'] },
    { id: 'f', type: 'noop', depends_on: ['a'] },
  ],
  output: { d: '{{ steps.d.output }}' },
};

interface EventView {
  type: string;
  step_id: string | null;
  data: { status?: string; attempt?: number; output?: unknown };
}

/** What a user sees of a finished execution, without ids and times. */
async function viewOf(server: TestServer, id: string) {
  const execution = await waitForExecution(server, id, ['completed', 'failed', 'cancelled']);
  const events = await server.request('GET', `/executions/${id}/events?order=asc&limit=100`);
  assert.equal(events.status, 200, events.text);
  const perStep = new Map<string, string[]>();
  for (const event of events.body.items as EventView[]) {
    if (!event.step_id) continue;
    const seen = perStep.get(event.step_id) ?? [];
    seen.push(`${event.type}:${event.data.attempt ?? ''}:${JSON.stringify(event.data.output ?? null)}`);
    perStep.set(event.step_id, seen);
  }
  const workflowEvents = (events.body.items as EventView[])
    .filter((event) => !event.step_id)
    .map((event) => event.type);
  return {
    status: execution.status,
    output: execution.output,
    steps: (execution.steps as Array<{ step_id: string; status: string; attempts: number; output: unknown }>)
      .map((step) => ({ id: step.step_id, status: step.status, attempts: step.attempts, output: step.output }))
      .sort((x, y) => x.id.localeCompare(y.id)),
    events: Object.fromEntries([...perStep].sort(([x], [y]) => x.localeCompare(y))),
    workflowEvents,
    order: (events.body.items as EventView[]).map((event) => `${event.type}:${event.step_id ?? ''}`),
  };
}

for (const backend of testBackends()) {
  describe(`settling in one statement (${backend})`, () => {
    let statement: TestServer;
    let transaction: TestServer;

    before(async () => {
      statement = await startTestServer(backend, { pgOneStatementSettle: true });
      transaction = await startTestServer(backend, { pgOneStatementSettle: false });
    });
    after(async () => {
      await statement.close();
      await transaction.close();
    });

    it('leaves the outputs, statuses, attempts and events the settle transaction leaves', async () => {
      const views = [];
      for (const server of [statement, transaction]) {
        const started = await server.request('POST', '/executions', { body: { definition: DIAMOND, input: { n: 1 } } });
        assert.equal(started.status, 202, started.text);
        views.push(await viewOf(server, started.body.id));
      }
      const [once, twice] = views;
      assert.ok(once && twice);
      assert.equal(once.status, 'completed');
      assert.deepEqual(once.output, { d: 10 });
      const outputs = new Map(once.steps.map((step) => [step.id, step.output]));
      assert.deepEqual(
        ['a', 'b', 'c', 'd'].map((id) => outputs.get(id)),
        [2, 4, 6, 10],
      );
      assert.deepEqual(
        once.steps.map((step) => `${step.id}:${step.status}:${step.attempts}`),
        ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => `${id}:completed:1`),
      );
      assert.deepEqual(once.events.a, ['step.started:1:null', 'step.completed::2']);
      assert.deepEqual(once.events.d, ['step.started:1:null', 'step.completed::10']);
      // Both settles: the same per-step events, and the same execution events.
      assert.deepEqual(once.steps, twice.steps);
      assert.deepEqual(once.events, twice.events);
      assert.deepEqual(once.workflowEvents, ['workflow.started', 'workflow.completed']);
      assert.deepEqual(once.workflowEvents, twice.workflowEvents);
      // Events are in causal order: a dependent starts after its dependencies completed.
      for (const view of views) {
        const at = (entry: string) => view.order.indexOf(entry);
        assert.ok(at('step.completed:a') < at('step.started:b'), view.order.join(' '));
        assert.ok(at('step.completed:b') < at('step.started:d'), view.order.join(' '));
        assert.ok(at('step.completed:c') < at('step.started:d'), view.order.join(' '));
        assert.ok(at('step.completed:d') < at('step.started:e'), view.order.join(' '));
      }
    });

    it('counts every settled attempt in the metrics', async () => {
      const series =
        /^weft_step_duration_seconds_count\{(?=[^}]*type="noop")(?=[^}]*outcome="completed")[^}]*\} (\d+)$/m;
      const count = async () => {
        const response = await statement.request('GET', '!/metrics', { key: null });
        assert.equal(response.status, 200, response.text);
        return Number(series.exec(response.text)?.[1] ?? 0);
      };
      const before = await count();
      const steps = Array.from({ length: 6 }, (_, index) => ({
        id: `s${index}`,
        type: 'noop',
        ...(index > 0 ? { depends_on: [`s${index - 1}`] } : {}),
      }));
      const started = await statement.request('POST', '/executions', { body: { definition: { name: 'Six', steps } } });
      assert.equal(started.status, 202, started.text);
      const done = await waitForExecution(statement, started.body.id, ['completed', 'failed']);
      assert.equal(done.status, 'completed');
      assert.equal((await count()) - before, 6);
    });
  });
}

/** A step that waits until the test opens its gate. */
function gatedTask() {
  const gate = { open: () => {}, entered: false };
  let opened = new Promise<void>((resolve) => {
    gate.open = resolve;
  });
  const task = defineTask({
    type: 'test.gated',
    description: 'Waits until the test opens its gate.',
    handler: async () => {
      gate.entered = true;
      await opened;
      return { passed: true };
    },
  });
  const close = () => {
    gate.entered = false;
    opened = new Promise<void>((resolve) => {
      gate.open = resolve;
    });
  };
  return { task, gate, close };
}

for (const backend of testBackends()) {
  describe(`a step completing in a paused execution (${backend})`, () => {
    const gated = gatedTask();
    let server: TestServer;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 }, [gated.task]);
    });
    after(async () => {
      gated.gate.open();
      await server.close();
    });

    it('queues its dependent until the execution resumes, then runs it once', async () => {
      const definition = {
        name: 'Paused between steps',
        steps: [
          { id: 'first', type: 'test.gated' },
          { id: 'second', type: 'noop', depends_on: ['first'] },
        ],
      };
      const started = await server.request('POST', '/executions', { body: { definition } });
      assert.equal(started.status, 202, started.text);
      const id = started.body.id as string;
      for (let waited = 0; !gated.gate.entered; waited += 10) {
        assert.ok(waited < 5000, 'the first step starts');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const paused = await server.request('POST', `/executions/${id}/pause`, { body: {} });
      assert.equal(paused.status, 200, paused.text);
      gated.gate.open();
      // The first step completes; the second is ready but must wait for the resume.
      let view = await server.request('GET', `/executions/${id}`);
      for (let waited = 0; view.body.steps[0].status !== 'completed'; waited += 20) {
        assert.ok(waited < 5000, 'the first step completes while paused');
        await new Promise((resolve) => setTimeout(resolve, 20));
        view = await server.request('GET', `/executions/${id}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      view = await server.request('GET', `/executions/${id}`);
      assert.equal(view.body.status, 'paused');
      assert.equal(view.body.steps[1].status, 'queued');
      assert.equal(view.body.steps[1].attempts, 0);

      const resumed = await server.request('POST', `/executions/${id}/resume`, { body: {} });
      assert.equal(resumed.status, 200, resumed.text);
      const done = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(done.status, 'completed');
      const events = await server.request('GET', `/executions/${id}/events?order=asc&limit=50`);
      const second = (events.body.items as EventView[])
        .filter((event) => event.step_id === 'second')
        .map((event) => `${event.type}:${event.data.attempt ?? ''}`);
      assert.deepEqual(second, ['step.started:1', 'step.completed:']);
      gated.close();
    });
  });
}
