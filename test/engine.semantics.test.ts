import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import {
  type FixtureServer,
  runAdhoc,
  startFixtureServer,
  stepOf,
  waitForExecution,
  waitUntil,
} from './helpers/http-fixtures.js';

const noop = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'noop', ...extra });
const statuses = (execution: { steps: Array<{ step_id: string; status: string }> }) =>
  Object.fromEntries(execution.steps.map((step) => [step.step_id, step.status]));

for (const backend of testBackends()) {
  describe(`execution semantics (${backend})`, () => {
    let server: TestServer;
    let fixture: FixtureServer;
    /** Requests to /hang stay open until released or aborted; aborted ones are counted. */
    const hanging = { aborted: 0, release: [] as Array<() => void> };
    let flaky = 0;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      fixture = await startFixtureServer(({ path, raw }) => {
        if (path === '/fail') return { status: 500, json: { error: 'broken' } };
        if (path === '/bad-request') return { status: 400, json: { error: 'no' } };
        if (path === '/flaky') {
          flaky += 1;
          return flaky % 2 === 1 ? { status: 500, json: { attempt: flaky } } : { json: { attempt: flaky } };
        }
        if (path === '/hang') {
          return new Promise((resolve) => {
            // The client closing the connection before the answer is how an aborted fetch shows.
            raw.socket.once('close', () => {
              hanging.aborted += 1;
              resolve({ status: 499 });
            });
            hanging.release.push(() => resolve({ json: { released: true } }));
          });
        }
        return { json: { ok: true, path } };
      });
    });
    after(async () => {
      for (const release of hanging.release) release();
      await server.close();
      await fixture.close();
    });

    it('branches with when, propagates skips, and runs an all_done finalizer', async () => {
      const id = await runAdhoc(
        server,
        {
          name: 'branching',
          steps: [
            noop('decide', { input: { mode: '{{ input.mode }}' } }),
            noop('full', { when: "{{ steps.decide.output.mode = 'full' }}" }),
            noop('quick', { when: "steps.decide.output.mode = 'quick'" }),
            noop('after_full', { depends_on: ['full'] }),
            noop('after_quick', { depends_on: ['quick'] }),
            noop('either', { depends_on: ['after_full', 'after_quick'], run_if: 'any_success' }),
            noop('finally', { depends_on: ['after_full', 'after_quick'], run_if: 'all_done' }),
          ],
          output: { ran: '{{ steps.either.status }}' },
        },
        { mode: 'quick' },
      );
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed');
      assert.deepEqual(statuses(execution), {
        decide: 'completed',
        full: 'skipped',
        quick: 'completed',
        after_full: 'skipped',
        after_quick: 'completed',
        either: 'completed',
        finally: 'completed',
      });
      assert.equal(stepOf(execution, 'full').skip_reason, 'condition');
      assert.equal(stepOf(execution, 'after_full').skip_reason, 'dependency');
      assert.deepEqual(execution.output, { ran: 'completed' });
    });

    it('stops on failure by default: cancels the rest and fails the execution', async () => {
      const id = await runAdhoc(server, {
        name: 'stop on failure',
        steps: [
          // The delay lets `slow` reach the server before `broken` fails.
          { id: 'wait', type: 'delay', input: { seconds: 0.3 } },
          { id: 'broken', type: 'http', input: { url: `${fixture.url}/bad-request` }, depends_on: ['wait'] },
          { id: 'slow', type: 'http', input: { url: `${fixture.url}/hang` } },
          noop('after', { depends_on: ['broken'] }),
        ],
      });
      const execution = await waitForExecution(server, id, ['failed']);
      assert.deepEqual(statuses(execution), {
        wait: 'completed',
        broken: 'failed',
        slow: 'cancelled',
        after: 'cancelled',
      });
      assert.match(execution.error.message, /step 'broken' failed: http: GET .* answered 400/);
      assert.equal(stepOf(execution, 'broken').attempts, 1, 'a 400 is not retried');
      await waitUntil(() => hanging.aborted >= 1, 'the running step to be aborted');
    });

    it('keeps independent branches running when stop_on_failure is false', async () => {
      const id = await runAdhoc(server, {
        name: 'keep going',
        stop_on_failure: false,
        steps: [
          {
            id: 'broken',
            type: 'http',
            input: { url: `${fixture.url}/fail` },
            retry: { max_attempts: 2, delay_ms: 10 },
          },
          noop('independent'),
          noop('after_independent', { depends_on: ['independent'] }),
          noop('after_broken', { depends_on: ['broken'] }),
          noop('cleanup', { depends_on: ['broken', 'after_independent'], run_if: 'all_done' }),
        ],
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'failed');
      assert.deepEqual(statuses(execution), {
        broken: 'failed',
        independent: 'completed',
        after_independent: 'completed',
        after_broken: 'skipped',
        cleanup: 'completed',
      });
      assert.equal(stepOf(execution, 'broken').attempts, 2);
    });

    it('runs later sequential steps after a failure when stop_on_failure is false, skips them by default', async () => {
      const pipeline = (extra: Record<string, unknown>, third: Record<string, unknown> = {}) => ({
        name: 'sequential pipeline',
        sequential: true,
        ...extra,
        steps: [
          noop('first'),
          { id: 'middle', type: 'http', input: { url: `${fixture.url}/bad-request` } },
          noop('third', third),
        ],
      });
      const continued = await waitForExecution(server, await runAdhoc(server, pipeline({ stop_on_failure: false })), [
        'completed',
        'failed',
      ]);
      assert.equal(continued.status, 'failed', 'a failed step still fails the execution');
      assert.deepEqual(statuses(continued), { first: 'completed', middle: 'failed', third: 'completed' });

      // A run_if written on the step wins over the implicit all_done.
      const strict = await waitForExecution(
        server,
        await runAdhoc(server, pipeline({ stop_on_failure: false }, { run_if: 'all_success' })),
        ['completed', 'failed'],
      );
      assert.equal(strict.status, 'failed');
      assert.deepEqual(statuses(strict), { first: 'completed', middle: 'failed', third: 'skipped' });
      assert.equal(stepOf(strict, 'third').skip_reason, 'dependency');

      const stopped = await waitForExecution(server, await runAdhoc(server, pipeline({})), ['completed', 'failed']);
      assert.equal(stopped.status, 'failed');
      assert.deepEqual(statuses(stopped), { first: 'completed', middle: 'failed', third: 'cancelled' });
    });

    it('times out an attempt, retries it, and times out a whole workflow', async () => {
      const attemptTimeout = await runAdhoc(server, {
        name: 'attempt timeout',
        steps: [
          {
            id: 'slow',
            type: 'http',
            input: { url: `${fixture.url}/hang` },
            timeout_seconds: 0.2,
            retry: { max_attempts: 2, delay_ms: 10 },
          },
        ],
      });
      const failed = await waitForExecution(server, attemptTimeout, ['failed']);
      assert.equal(stepOf(failed, 'slow').attempts, 2);
      assert.match(stepOf(failed, 'slow').error.message, /timed out after 0.2 s/);

      const workflowTimeout = await runAdhoc(server, {
        name: 'workflow timeout',
        timeout_seconds: 0.3,
        steps: [{ id: 'wait', type: 'delay', input: { seconds: 30 } }, noop('after', { depends_on: ['wait'] })],
      });
      const timedOut = await waitForExecution(server, workflowTimeout, ['failed']);
      assert.match(timedOut.error.message, /timed out/);
      assert.deepEqual(statuses(timedOut), { wait: 'cancelled', after: 'cancelled' });
    });

    it('pauses (running steps finish, nothing new starts) and resumes', async () => {
      const id = await runAdhoc(server, {
        name: 'pausable',
        steps: [{ id: 'first', type: 'delay', input: { seconds: 0.3 } }, noop('second', { depends_on: ['first'] })],
      });
      const paused = await server.request('POST', `/executions/${id}/pause`);
      assert.equal(paused.status, 200);
      assert.equal(paused.body.status, 'paused');
      assertProblem(await server.request('POST', `/executions/${id}/pause`), 409, 'CONFLICT');
      await new Promise((resolve) => setTimeout(resolve, 600));
      const still = await server.request('GET', `/executions/${id}`);
      assert.equal(still.body.status, 'paused');
      assert.notEqual(stepOf(still.body, 'second').status, 'completed', 'nothing new ran while paused');
      const resumed = await server.request('POST', `/executions/${id}/resume`);
      assert.equal(resumed.body.status, 'running');
      const done = await waitForExecution(server, id, ['completed']);
      assert.deepEqual(statuses(done), { first: 'completed', second: 'completed' });
      const types = (await server.request('GET', `/executions/${id}/events?order=asc`)).body.items.map(
        (event: { type: string }) => event.type,
      );
      assert.ok(types.indexOf('workflow.paused') < types.indexOf('workflow.resumed'));
      assert.equal(types.at(-1), 'workflow.completed');
    });

    it('cancels while a step runs: its handler is aborted and the execution ends cancelled', async () => {
      const before = hanging.aborted;
      const id = await runAdhoc(server, {
        name: 'cancellable',
        steps: [{ id: 'slow', type: 'http', input: { url: `${fixture.url}/hang` } }],
      });
      await waitUntil(
        async () => (await server.request('GET', `/executions/${id}/status`)).body.progress.running.includes('slow'),
        'the step to run',
      );
      const cancelled = await server.request('POST', `/executions/${id}/cancel`);
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.status, 'cancelled');
      await waitUntil(() => hanging.aborted > before, 'the handler to see the abort');
      const execution = await waitForExecution(server, id, ['cancelled']);
      assert.equal(stepOf(execution, 'slow').status, 'cancelled');
      const conflict = await server.request('POST', `/executions/${id}/cancel`);
      assertProblem(conflict, 409, 'CONFLICT');
      assert.match(conflict.body.detail, /'cancelled'.*'pending' or 'queued' or 'running' or 'paused'/);
    });

    it('resumes a failed execution re-running only the failed steps, and retries from a step', async () => {
      flaky = 0;
      const id = await runAdhoc(server, {
        name: 'resumable',
        steps: [
          noop('stable'),
          { id: 'flaky', type: 'http', input: { url: `${fixture.url}/flaky` }, depends_on: ['stable'] },
          noop('after', { depends_on: ['flaky'], input: '{{ steps.flaky.output.body }}' }),
        ],
        output: '{{ steps.after.output }}',
      });
      const failed = await waitForExecution(server, id, ['failed']);
      assert.deepEqual(statuses(failed), { stable: 'completed', flaky: 'failed', after: 'cancelled' });
      const resumed = await server.request('POST', `/executions/${id}/resume`);
      assert.equal(resumed.status, 200);
      const done = await waitForExecution(server, id, ['completed']);
      assert.deepEqual(done.output, { attempt: 2 });
      assert.equal(stepOf(done, 'stable').attempts, 1, 'completed steps are not re-run');
      assert.equal(stepOf(done, 'flaky').attempts, 2);

      const retried = await server.request('POST', `/executions/${id}/retry`, { body: { from_step: 'flaky' } });
      assert.equal(retried.status, 200);
      const again = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(again.status, 'failed', 'the third call to /flaky fails');
      assert.equal(stepOf(again, 'stable').attempts, 1);
      assert.equal(stepOf(again, 'flaky').attempts, 3);
      const fourth = await server.request('POST', `/executions/${id}/retry`, { body: { from_step: 'flaky' } });
      assert.equal(fourth.status, 200);
      assert.deepEqual((await waitForExecution(server, id, ['completed'])).output, { attempt: 4 });
      assertProblem(
        await server.request('POST', `/executions/${id}/retry`, { body: { from_step: 'nope' } }),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('creates pending executions, starts them, cleans finished ones up, and guards workflow deletion', async () => {
      const workflow = await server.request('POST', '/workflows', {
        body: { name: 'guarded', steps: [{ id: 'wait', type: 'delay', input: { seconds: 30 } }] },
      });
      const pending = await server.request('POST', `/workflows/${workflow.body.id}/executions`, {
        body: { start: false, labels: { kind: 'guard' } },
      });
      assert.equal(pending.body.status, 'pending');
      assertProblem(await server.request('POST', `/executions/${pending.body.id}/cleanup`), 409, 'CONFLICT');
      const started = await server.request('POST', `/executions/${pending.body.id}/start`);
      assert.equal(started.body.status, 'running');
      assertProblem(await server.request('DELETE', `/workflows/${workflow.body.id}`), 409, 'CONFLICT');
      assert.equal((await server.request('DELETE', `/workflows/${workflow.body.id}?cancel_running=true`)).status, 204);
      const cancelled = await waitForExecution(server, pending.body.id, ['cancelled']);
      assert.equal(cancelled.labels.kind, 'guard');
      const cleanup = await server.request('POST', `/executions/${pending.body.id}/cleanup`);
      assert.equal(cleanup.status, 200);
      assert.equal(cleanup.body.execution.id, pending.body.id);
      assert.ok(cleanup.body.execution.deleted_at, 'the execution answered is the deleted one');
      assert.deepEqual(cleanup.body.cleanup, { artifacts_deleted: [], bytes_deleted: 0, errors: [] });
      assertProblem(await server.request('GET', `/executions/${pending.body.id}`), 404, 'NOT_FOUND');
      const listed = await server.request('GET', `/executions?workflow_id=${workflow.body.id}&include_deleted=true`);
      assert.equal(listed.body.items.length, 1);
      const filtered = await server.request('GET', '/executions?label=kind:guard');
      assert.equal(filtered.body.items.length, 0, 'cleaned-up executions leave the list');
      assertProblem(
        await server.request('POST', `/workflows/${workflow.body.id}/executions`, { body: {} }),
        404,
        'NOT_FOUND',
      );
    });

    it('refuses to start a disabled workflow', async () => {
      const workflow = await server.request('POST', '/workflows', {
        body: { name: 'off', enabled: false, steps: [noop('a')] },
      });
      assertProblem(
        await server.request('POST', `/workflows/${workflow.body.id}/executions`, { body: {} }),
        409,
        'CONFLICT',
      );
    });
  });
}
