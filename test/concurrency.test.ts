import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WorkflowDefinition } from '../src/definition/definition-schema.js';
import { checkStartInput, insertExecutions, prepareExecution } from '../src/engine/lifecycle.js';
import { assertProblem, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { type FixtureServer, startFixtureServer, waitForExecution, waitUntil } from './helpers/http-fixtures.js';

/** Concurrency keys (SPEC §3.1): slots per key, queued executions, the three strategies. */

/** A loopback upstream whose calls hang until released, counting calls in flight per key. */
interface HeldUpstream {
  fixture: FixtureServer;
  /** Calls received, in arrival order, as `key/n`. */
  arrivals: string[];
  inFlight: Map<string, number>;
  maxInFlight: Map<string, number>;
  /** Answers the oldest held call of `key` (any key when absent); false when none is held. */
  release(key?: string): boolean;
  held(key?: string): number;
}

async function heldUpstream(): Promise<HeldUpstream> {
  const waiting: Array<{ key: string; answer: () => void }> = [];
  const arrivals: string[] = [];
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const fixture = await startFixtureServer(async ({ path }) => {
    const url = new URL(path, 'http://upstream');
    const key = url.searchParams.get('key') ?? '';
    arrivals.push(`${key}/${url.searchParams.get('n')}`);
    const now = (inFlight.get(key) ?? 0) + 1;
    inFlight.set(key, now);
    maxInFlight.set(key, Math.max(now, maxInFlight.get(key) ?? 0));
    await new Promise<void>((resolve) => waiting.push({ key, answer: resolve }));
    inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
    return { json: { ok: true } };
  });
  return {
    fixture,
    arrivals,
    inFlight,
    maxInFlight,
    release(key) {
      const index = waiting.findIndex((entry) => key === undefined || entry.key === key);
      if (index < 0) return false;
      const [entry] = waiting.splice(index, 1);
      entry?.answer();
      return true;
    },
    held: (key) => waiting.filter((entry) => key === undefined || entry.key === key).length,
  };
}

function limitedWorkflow(name: string, upstream: string, concurrency: Record<string, unknown>) {
  return {
    name,
    concurrency,
    steps: [
      {
        id: 'call',
        type: 'http',
        input: { url: `${upstream}/work?key={{ input.customer }}&n={{ input.n }}` },
        retry: { max_attempts: 1 },
      },
    ],
  };
}

for (const backend of testBackends()) {
  describe(`concurrency keys (${backend})`, () => {
    let server: TestServer;
    let upstream: HeldUpstream;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      upstream = await heldUpstream();
    });
    after(async () => {
      while (upstream.release()) {}
      await server.close();
      await upstream.fixture.close();
    });

    const createWorkflow = async (definition: Record<string, unknown>) => {
      const response = await server.request('POST', '/workflows', { body: definition });
      assert.equal(response.status, 201, response.text);
      return response.body.id as string;
    };
    const start = async (workflowId: string, input: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
      const response = await server.request('POST', `/workflows/${workflowId}/executions`, {
        body: { input, ...extra },
      });
      assert.equal(response.status, 202, response.text);
      return response.body;
    };
    const get = async (id: string) => (await server.request('GET', `/executions/${id}`)).body;

    it('queues executions past the limit per key and starts them oldest first as slots free', async () => {
      const workflow = await createWorkflow(
        limitedWorkflow('per customer', upstream.fixture.url, { limit: 2, key: '{{ input.customer }}' }),
      );
      const a = [];
      for (let n = 0; n < 5; n += 1) a.push(await start(workflow, { customer: 'acme', n }));
      const b = await start(workflow, { customer: 'globex', n: 0 });
      assert.deepEqual(
        a.map((execution) => execution.status),
        ['running', 'running', 'queued', 'queued', 'queued'],
      );
      assert.equal(b.status, 'running', 'another key has its own slots');
      assert.deepEqual(
        a.map((execution) => execution.concurrency_key),
        ['acme', 'acme', 'acme', 'acme', 'acme'],
      );
      assert.deepEqual(
        a.map((execution) => execution.queue_position),
        [null, null, 1, 2, 3],
      );
      const queued = await server.request('GET', `/workflows/${workflow}/executions?status=queued`);
      assert.equal(queued.status, 200, queued.text);
      assert.deepEqual(
        queued.body.items.map((item: { id: string }) => item.id).sort(),
        a
          .slice(2)
          .map((x) => x.id)
          .sort(),
      );
      const stats = await server.request('GET', '/executions/stats');
      assert.equal(stats.body.by_status.queued, 3, stats.text);
      const metrics = await server.request('GET', '!/metrics');
      assert.match(metrics.text, /^weft_executions_queued 3$/m);

      await waitUntil(() => upstream.held('acme') === 2 && upstream.held('globex') === 1, 'three held calls');
      // A queued execution's step never ran: the upstream saw acme 0 and 1 only.
      assert.deepEqual(upstream.arrivals.filter((arrival) => arrival.startsWith('acme')).sort(), ['acme/0', 'acme/1']);
      upstream.release('acme');
      const third = await waitForExecution(server, a[2].id, ['running']);
      assert.equal(third.queue_position, null);
      assert.equal((await get(a[3].id)).queue_position, 1, 'the next in line moves up');
      while (upstream.held() > 0 || (await get(a[4].id)).status !== 'completed') {
        upstream.release();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const execution of [...a, b])
        assert.equal((await waitForExecution(server, execution.id, ['completed'])).status, 'completed');
      assert.equal(upstream.maxInFlight.get('acme'), 2, 'never more than the limit at once');
      assert.deepEqual(
        upstream.arrivals.filter((arrival) => arrival.startsWith('acme')).slice(2),
        ['acme/2', 'acme/3', 'acme/4'],
        'FIFO by start',
      );
      const events = await server.request('GET', `/executions/${a[4].id}/events?order=asc`);
      const types = events.body.items.map((event: { type: string }) => event.type);
      assert.deepEqual(types.slice(0, 2), ['workflow.queued', 'workflow.started'], events.text);
    });

    it('cancel_newest cancels a start that finds its key full, saying why', async () => {
      const workflow = await createWorkflow(
        limitedWorkflow('newest', upstream.fixture.url, {
          limit: 1,
          key: '{{ input.customer }}',
          strategy: 'cancel_newest',
        }),
      );
      const first = await start(workflow, { customer: 'n1', n: 0 });
      const second = await start(workflow, { customer: 'n1', n: 1 });
      assert.equal(first.status, 'running');
      assert.equal(second.status, 'cancelled');
      assert.equal(second.error.code, 'CONCURRENCY_LIMIT');
      assert.match(second.error.message, /key 'n1'.*1 of 1.*cancel_newest/);
      assert.ok(second.steps.every((step: { status: string }) => step.status === 'cancelled'));
      // A pending execution started later is a newcomer too.
      const pending = await start(workflow, { customer: 'n1', n: 2 }, { start: false });
      assert.equal(pending.status, 'pending');
      const started = await server.request('POST', `/executions/${pending.id}/start`);
      assert.equal(started.status, 200, started.text);
      assert.equal(started.body.status, 'cancelled');
      await waitUntil(() => upstream.held('n1') === 1, 'the first call');
      upstream.release('n1');
      assert.equal((await waitForExecution(server, first.id, ['completed'])).status, 'completed');
      assert.deepEqual(
        upstream.arrivals.filter((arrival) => arrival.startsWith('n1')),
        ['n1/0'],
      );
    });

    it('cancel_in_progress cancels the oldest holder to make room', async () => {
      const workflow = await createWorkflow(
        limitedWorkflow('in progress', upstream.fixture.url, {
          limit: 1,
          key: '{{ input.customer }}',
          strategy: 'cancel_in_progress',
        }),
      );
      const first = await start(workflow, { customer: 'p1', n: 0 });
      await waitUntil(() => upstream.held('p1') === 1, 'the first call');
      const second = await start(workflow, { customer: 'p1', n: 1 });
      assert.equal(second.status, 'running');
      const cancelled = await get(first.id);
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(cancelled.error.code, 'CONCURRENCY_LIMIT');
      assert.match(cancelled.error.message, new RegExp(`make room for execution '${second.id}'`));
      await waitUntil(() => upstream.arrivals.includes('p1/1'), 'the second call');
      while (upstream.release('p1')) {}
      assert.equal((await waitForExecution(server, second.id, ['completed', 'failed'])).status, 'completed');
    });

    it('a cancelled queued execution never runs; resumed, it queues again behind the holder', async () => {
      const workflow = await createWorkflow(limitedWorkflow('single', upstream.fixture.url, { limit: 1 }));
      const holder = await start(workflow, { customer: 's1', n: 0 });
      const waiting = await start(workflow, { customer: 's1', n: 1 });
      assert.equal(waiting.status, 'queued');
      assert.equal(waiting.concurrency_key, '');
      const pause = await server.request('POST', `/executions/${waiting.id}/pause`);
      assertProblem(pause, 409, 'CONFLICT');
      const cancel = await server.request('POST', `/executions/${waiting.id}/cancel`);
      assert.equal(cancel.status, 200, cancel.text);
      assert.equal(cancel.body.status, 'cancelled');
      const resumed = await server.request('POST', `/executions/${waiting.id}/resume`);
      assert.equal(resumed.status, 200, resumed.text);
      assert.equal(resumed.body.status, 'queued');
      assert.equal(resumed.body.queue_position, 1);
      await waitUntil(() => upstream.held('s1') === 1, 'the holder call');
      upstream.release('s1');
      await waitForExecution(server, holder.id, ['completed']);
      await waitUntil(() => upstream.held('s1') === 1, 'the resumed call');
      upstream.release('s1');
      assert.equal((await waitForExecution(server, waiting.id, ['completed', 'failed'])).status, 'completed');
      assert.deepEqual(
        upstream.arrivals.filter((arrival) => arrival.startsWith('s1')),
        ['s1/0', 's1/1'],
      );
    });

    it("a disabled workflow's queued executions stay queued until it is enabled again", async () => {
      const workflow = await createWorkflow(limitedWorkflow('disabled', upstream.fixture.url, { limit: 1 }));
      const holder = await start(workflow, { customer: 'd1', n: 0 });
      const waiting = await start(workflow, { customer: 'd1', n: 1 });
      assert.equal(waiting.status, 'queued');
      const disabled = await server.request('PATCH', `/workflows/${workflow}`, { body: { enabled: false } });
      assert.equal(disabled.status, 200, disabled.text);
      await waitUntil(() => upstream.held('d1') === 1, 'the holder call');
      upstream.release('d1');
      await waitForExecution(server, holder.id, ['completed']);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await get(waiting.id)).status, 'queued', 'not admitted while disabled');
      const enabled = await server.request('PATCH', `/workflows/${workflow}`, { body: { enabled: true } });
      assert.equal(enabled.status, 200, enabled.text);
      await waitUntil(() => upstream.held('d1') === 1, 'the queued call after enabling');
      upstream.release('d1');
      assert.equal((await waitForExecution(server, waiting.id, ['completed', 'failed'])).status, 'completed');
    });

    it('two transactions admitting the last slot of a key at once: the second waits for the key and queues', async () => {
      const definition = limitedWorkflow('race', upstream.fixture.url, { limit: 1, key: '{{ input.customer }}' });
      const workflow = await createWorkflow(definition);
      const probe = await start(workflow, { customer: 'probe', n: 0 });
      const row = await server.store.executions.getById(probe.id, true);
      assert.ok(row);
      const request = (n: number) =>
        checkStartInput({
          workspaceId: row.workspace_id,
          workflow: { id: workflow, version: 1, definition: definition as WorkflowDefinition },
          adhocDefinition: undefined,
          input: { customer: 'race', n },
          start: true,
          labels: {},
          reference: null,
          webhookUrl: null,
          trigger: null,
        });
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const first = server.store.transaction(async (tx) => {
        const prepared = prepareExecution(await request(1));
        await insertExecutions(tx, [prepared]);
        await gate;
        return prepared.execution.status;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      let secondDecided = false;
      const second = server.store.transaction(async (tx) => {
        const prepared = prepareExecution(await request(2));
        await insertExecutions(tx, [prepared]);
        secondDecided = true;
        return prepared.execution.status;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(secondDecided, false, 'the second admission waits until the first commits');
      release();
      assert.equal(await first, 'running');
      assert.equal(await second, 'queued', 'it counted the first as a holder');
      while (
        upstream.held() > 0 ||
        (await server.request('GET', `/workflows/${workflow}/executions?status=queued`)).body.items.length > 0
      ) {
        upstream.release();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });

    it('rejects a key that reads steps, an unknown strategy, and an input whose key renders to nothing', async () => {
      const readsSteps = await server.request('POST', '/workflows', {
        body: {
          name: 'bad key',
          concurrency: { limit: 1, key: '{{ steps.a.output }}' },
          steps: [{ id: 'a', type: 'noop' }],
        },
      });
      assertProblem(readsSteps, 400, 'DEFINITION_INVALID');
      assert.ok(
        readsSteps.body.errors.some((error: { path: string }) => error.path === '/concurrency/key'),
        readsSteps.text,
      );
      const strategy = await server.request('POST', '/workflows', {
        body: { name: 'bad strategy', concurrency: { limit: 1, strategy: 'drop' }, steps: [{ id: 'a', type: 'noop' }] },
      });
      assert.equal(strategy.status, 400, strategy.text);
      assert.ok(
        strategy.body.errors.some((error: { path: string }) => error.path.startsWith('/concurrency')),
        strategy.text,
      );
      const workflow = await createWorkflow({
        name: 'keyed',
        concurrency: { limit: 1, key: '{{ input.customer }}' },
        steps: [{ id: 'a', type: 'noop' }],
      });
      const missing = await server.request('POST', `/workflows/${workflow}/executions`, { body: { input: {} } });
      assertProblem(missing, 400, 'VALIDATION_FAILED');
      assert.equal(missing.body.errors[0].path, '/input');
      const listed = await server.request('GET', `/workflows/${workflow}/executions`);
      assert.equal(listed.body.items.length, 0, 'nothing was created');
    });
  });
}
