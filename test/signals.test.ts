import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from '../src/sdk/index.js';
import { assertProblem, createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution, waitUntil } from './helpers/http-fixtures.js';

/** `wait_for_signal` and signals (SPEC §3.1), seen through the API. */

const waitStep = (id: string, signal: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'wait_for_signal',
  input: { signal, ...((extra.input as object | undefined) ?? {}) },
  ...Object.fromEntries(Object.entries(extra).filter(([key]) => key !== 'input')),
});

async function stepStatus(server: TestServer, executionId: string, stepId: string): Promise<string> {
  const response = await server.request('GET', `/executions/${executionId}`);
  return stepOf(response.body, stepId).status;
}

async function waitForStepStatus(server: TestServer, executionId: string, stepId: string, status: string) {
  await waitUntil(async () => (await stepStatus(server, executionId, stepId)) === status, `${stepId} ${status}`);
}

for (const backend of testBackends()) {
  describe(`signals (${backend})`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
    });
    after(() => server.close());

    it('completes a waiting step with the data of a signal sent later, and queues its dependents', async () => {
      const id = await runAdhoc(server, {
        name: 'approval',
        steps: [
          waitStep('approve', 'approved'),
          { id: 'after', type: 'noop', depends_on: ['approve'], input: { who: '{{ steps.approve.output.by }}' } },
        ],
      });
      await waitForStepStatus(server, id, 'approve', 'waiting');
      const view = await server.request('GET', `/executions/${id}`);
      assert.equal(view.body.steps[0].waiting_for_signal, 'approved');
      assert.equal(view.body.steps[1].waiting_for_signal, null);
      const sent = await server.request('POST', `/executions/${id}/signals/approved`, {
        body: { data: { by: 'ada' } },
      });
      assert.equal(sent.status, 202, sent.text);
      assert.match(sent.body.id, /^sig_/);
      assert.deepEqual(
        { ...sent.body, id: undefined },
        { id: undefined, name: 'approved', consumed_by_step: 'approve', consumed_by_index: null },
      );
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      assert.deepEqual(stepOf(execution, 'approve').output, { by: 'ada' });
      assert.deepEqual(stepOf(execution, 'after').output, { who: 'ada' });
      assert.equal(stepOf(execution, 'approve').attempts, 1);
    });

    it('sends signals with the SDK client (sendSignal, signals)', async () => {
      const client = createClient({ baseUrl: server.url, apiKey: server.adminKey });
      const id = await runAdhoc(server, { name: 'sdk', steps: [waitStep('wait', 'sdk-signal')] });
      await waitForStepStatus(server, id, 'wait', 'waiting');
      const sent = await client.executions.sendSignal(id, 'sdk-signal', { ok: true }, { idempotencyKey: 'sdk-1' });
      assert.equal(sent.consumed_by_step, 'wait');
      const again = await client.executions.sendSignal(id, 'sdk-signal', { ok: false }, { idempotencyKey: 'sdk-1' });
      assert.equal(again.id, sent.id);
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.deepEqual(stepOf(execution, 'wait').output, { ok: true });
      const page = await client.executions.signals(id);
      assert.deepEqual(
        page.items.map((item) => [item.name, item.consumed_by_step]),
        [['sdk-signal', 'wait']],
      );
    });

    it('keeps a signal sent before the wait and hands it to the first step that waits for its name', async () => {
      const id = await runAdhoc(server, {
        name: 'early signal',
        steps: [
          { id: 'pause', type: 'delay', input: { seconds: 0.4 } },
          waitStep('wait', 'go', { depends_on: ['pause'] }),
        ],
      });
      const sent = await server.request('POST', `/executions/${id}/signals/go`, { body: { data: [1, 2, 3] } });
      assert.equal(sent.status, 202, sent.text);
      assert.equal(sent.body.consumed_by_step, null);
      const listed = await server.request('GET', `/executions/${id}/signals`);
      assert.equal(listed.status, 200, listed.text);
      assert.equal(listed.body.items[0].consumed_by_step, null);
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      assert.deepEqual(stepOf(execution, 'wait').output, [1, 2, 3]);
      const after = await server.request('GET', `/executions/${id}/signals`);
      assert.equal(after.body.items[0].consumed_by_step, 'wait');
      assert.match(after.body.items[0].consumed_at, /^\d{4}-/);
      assert.deepEqual(after.body.items[0].data, [1, 2, 3]);
    });

    it('consumes each signal once, oldest first, with two steps waiting for the same name', async () => {
      const id = await runAdhoc(server, {
        name: 'two waiters',
        steps: [waitStep('first', 'item'), waitStep('second', 'item')],
      });
      await waitForStepStatus(server, id, 'first', 'waiting');
      await waitForStepStatus(server, id, 'second', 'waiting');
      const one = await server.request('POST', `/executions/${id}/signals/item`, { body: { data: 'one' } });
      const two = await server.request('POST', `/executions/${id}/signals/item`, { body: { data: 'two' } });
      const three = await server.request('POST', `/executions/${id}/signals/item`, { body: { data: 'three' } });
      assert.deepEqual([one.status, two.status], [202, 202]);
      const consumers = [one.body.consumed_by_step, two.body.consumed_by_step].sort();
      assert.deepEqual(consumers, ['first', 'second']);
      // The execution completed with the first two; the third came after the end.
      assertProblem(three, 409, 'CONFLICT');
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      const outputs = [stepOf(execution, 'first').output, stepOf(execution, 'second').output].sort();
      assert.deepEqual(outputs, ['one', 'two']);
      const listed = await server.request('GET', `/executions/${id}/signals`);
      assert.equal(listed.body.items.length, 2);
    });

    it('waits for a templated name, and fails without retry when the rendered name is not one', async () => {
      const definition = {
        name: 'templated name',
        steps: [waitStep('wait', '{{ input.order }}', { retry: { max_attempts: 3, backoff: 'fixed', delay_ms: 0 } })],
      };
      const id = await runAdhoc(server, definition, { order: 'order-17' });
      await waitForStepStatus(server, id, 'wait', 'waiting');
      const sent = await server.request('POST', `/executions/${id}/signals/order-17`, { body: { data: 'paid' } });
      assert.equal(sent.body.consumed_by_step, 'wait', sent.text);
      const done = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(stepOf(done, 'wait').output, 'paid');

      const bad = await runAdhoc(server, definition, { order: 'no spaces allowed' });
      const failed = await waitForExecution(server, bad, ['completed', 'failed']);
      assert.equal(failed.status, 'failed');
      assert.equal(stepOf(failed, 'wait').attempts, 1);
      assert.match(stepOf(failed, 'wait').error.message, /'signal' must be a name like a step id/);
    });

    it('fails the attempt with SIGNAL_TIMEOUT after timeout_seconds; retry and fallback apply', async () => {
      const id = await runAdhoc(server, {
        name: 'timeout',
        steps: [
          waitStep('wait', 'never', {
            input: { timeout_seconds: 0.3 },
            retry: { max_attempts: 2, backoff: 'fixed', delay_ms: 0 },
            fallback: { type: 'noop', input: { timed_out: true } },
          }),
        ],
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      const step = stepOf(execution, 'wait');
      assert.equal(step.used_fallback, true);
      assert.deepEqual(step.output, { timed_out: true });
      const attempts = await server.request('GET', `/executions/${id}/timeline`);
      const failures = JSON.stringify(attempts.body);
      assert.match(failures, /SIGNAL_TIMEOUT/);

      const plain = await runAdhoc(server, {
        name: 'timeout, no fallback',
        steps: [waitStep('wait', 'never', { input: { timeout_seconds: 0.2 } })],
      });
      const failed = await waitForExecution(server, plain, ['completed', 'failed']);
      assert.equal(failed.status, 'failed');
      assert.equal(stepOf(failed, 'wait').error.code, 'SIGNAL_TIMEOUT');
      assert.match(stepOf(failed, 'wait').error.message, /no signal 'never' arrived in time/);
    });

    it('answers 409 for an ended execution and 404 for another workspace or an unknown execution', async () => {
      const id = await runAdhoc(server, { name: 'ended', steps: [{ id: 'a', type: 'noop', input: {} }] });
      await waitForExecution(server, id, ['completed']);
      assertProblem(await server.request('POST', `/executions/${id}/signals/late`, { body: {} }), 409, 'CONFLICT');
      assertProblem(await server.request('POST', '/executions/ex_nope/signals/x', { body: {} }), 404, 'NOT_FOUND');

      const running = await runAdhoc(server, { name: 'open', steps: [waitStep('w', 'mine')] });
      const workspace = await server.request('POST', '/workspaces', { body: { slug: 'signals-other', name: 'Other' } });
      assert.equal(workspace.status, 201, workspace.text);
      const otherKey = await createKey(server, 'member', workspace.body.id);
      const foreign = await server.request('POST', `/executions/${running}/signals/mine`, { key: otherKey, body: {} });
      assertProblem(foreign, 404, 'NOT_FOUND');
      assertProblem(await server.request('GET', `/executions/${running}/signals`, { key: otherKey }), 404, 'NOT_FOUND');
      assert.equal((await server.request('POST', `/executions/${running}/cancel`)).status, 200);
    });

    it('answers a repeated Idempotency-Key with the first signal and stores it once', async () => {
      const id = await runAdhoc(server, {
        name: 'idempotent',
        steps: [{ id: 'pause', type: 'delay', input: { seconds: 30 } }],
      });
      const headers = { 'idempotency-key': 'k-1' };
      const first = await server.request('POST', `/executions/${id}/signals/s`, { headers, body: { data: 1 } });
      const again = await server.request('POST', `/executions/${id}/signals/s`, { headers, body: { data: 2 } });
      assert.equal(first.status, 202, first.text);
      assert.equal(again.status, 202, again.text);
      assert.equal(again.body.id, first.body.id);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      const other = await server.request('POST', `/executions/${id}/signals/t`, { headers, body: {} });
      assertProblem(other, 409, 'CONFLICT');
      const listed = await server.request('GET', `/executions/${id}/signals`);
      assert.equal(listed.body.items.length, 1);
      assert.equal(listed.body.items[0].data, 1);
      assert.equal((await server.request('POST', `/executions/${id}/cancel`)).status, 200);
    });

    it('holds at most 100 unconsumed signals per execution, then 429; lists them in cursor pages', async () => {
      const id = await runAdhoc(server, {
        name: 'full',
        steps: [{ id: 'pause', type: 'delay', input: { seconds: 60 } }],
      });
      for (let index = 0; index < 100; index += 1) {
        const sent = await server.request('POST', `/executions/${id}/signals/n${index % 3}`, { body: { data: index } });
        assert.equal(sent.status, 202, sent.text);
      }
      const full = await server.request('POST', `/executions/${id}/signals/n0`, { body: { data: 100 } });
      assertProblem(full, 429, 'RATE_LIMITED');
      assert.match(full.body.detail, /100 unconsumed signals/);
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? '?limit=30' : `?limit=30&cursor=${cursor}`;
        const page = await server.request('GET', `/executions/${id}/signals${query}`);
        assert.equal(page.status, 200, page.text);
        seen.push(...page.body.items.map((item: { data: number }) => item.data));
        cursor = page.body.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(
        seen,
        Array.from({ length: 100 }, (_, index) => 99 - index),
      );
      assert.equal((await server.request('POST', `/executions/${id}/cancel`)).status, 200);
    });

    it('rejects a bad name, a body that is not a JSON object, and a wait_for_signal without signal (400 with paths)', async () => {
      const id = await runAdhoc(server, { name: 'bad input', steps: [waitStep('w', 'ok')] });
      const badName = await server.request('POST', `/executions/${id}/signals/9-bad`, { body: {} });
      assertProblem(badName, 400, 'VALIDATION_FAILED');
      assert.match(JSON.stringify(badName.body.errors), /name/);
      const notObject = await server.request('POST', `/executions/${id}/signals/ok`, { body: [1] });
      assertProblem(notObject, 400, 'VALIDATION_FAILED');
      const notJson = await server.request('POST', `/executions/${id}/signals/ok`, {
        rawBody: '{"data": ',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(notJson.status, 400, notJson.text);
      const extra = await server.request('POST', `/executions/${id}/signals/ok`, { body: { data: 1, other: 2 } });
      assertProblem(extra, 400, 'VALIDATION_FAILED');
      assert.match(JSON.stringify(extra.body.errors), /other/);
      assert.equal((await server.request('POST', `/executions/${id}/cancel`)).status, 200);

      const missing = await server.request('POST', '/executions', {
        body: { definition: { name: 'no signal', steps: [{ id: 'w', type: 'wait_for_signal', input: {} }] } },
      });
      assert.equal(missing.status, 400, missing.text);
      assert.match(JSON.stringify(missing.body.errors), /steps\/0\/input/);
      assert.match(JSON.stringify(missing.body.errors), /signal/);

      // A literal name no signal route can carry is known at validation; a templated one is not.
      const spaced = await server.request('POST', '/workflows', {
        body: { name: 'bad name', steps: [{ id: 'w', type: 'wait_for_signal', input: { signal: 'two words' } }] },
      });
      assertProblem(spaced, 400, 'DEFINITION_INVALID');
      assert.equal(spaced.body.errors[0].path, '/steps/0/input/signal');
      assert.match(spaced.body.errors[0].message, /'two words' does not match/);
      const templated = await server.request('POST', '/workflows', {
        body: {
          name: 'templated',
          steps: [{ id: 'w', type: 'wait_for_signal', input: { signal: '{{ input.name }}' } }],
        },
      });
      assert.equal(templated.status, 201, templated.text);
    });
  });
}
