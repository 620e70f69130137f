import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newId } from '../src/ids.js';
import type { ExecutionRow, StepAttemptRow } from '../src/store/database-schema.js';
import { sendRequest, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';

/**
 * `GET /workflows/{id}/metrics` stays cheap on a workflow with 30,000 executions: the answer
 * matches the seeded counts and durations, and 10 parallel calls finish while `/healthz` keeps
 * answering. The bounds are generous (a shared 2-core machine); the figures are printed.
 */

const EXECUTIONS = 30_000;
const BASE = Date.parse('2026-01-01T00:00:00.000Z');

/** Execution `index`: its status and, when it ended, its duration (ms). */
function planOf(index: number): { status: string; durationMs: number | null } {
  if (index % 10 === 9) return { status: 'failed', durationMs: 1000 + (index % 7) };
  if (index % 50 === 3) return { status: 'cancelled', durationMs: null };
  if (index % 100 === 5) return { status: 'running', durationMs: null };
  return { status: 'completed', durationMs: 100 + (index % 1000) };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Seeds the executions and their attempts (step `fetch` twice when it failed, `store` once). */
async function seed(server: TestServer, workspaceId: string, workflowId: string) {
  for (let start = 0; start < EXECUTIONS; start += 1000) {
    const executions: ExecutionRow[] = [];
    const attempts: StepAttemptRow[] = [];
    for (let index = start; index < start + 1000; index += 1) {
      const { status, durationMs } = planOf(index);
      const created = BASE + index * 60_000;
      const id = newId('ex');
      executions.push({
        id,
        workspace_id: workspaceId,
        workflow_id: workflowId,
        workflow_version: 1,
        adhoc_definition: null,
        status,
        input: '{}',
        output: null,
        error: null,
        labels: '{}',
        reference: null,
        trigger: null,
        webhook_url: null,
        steps_total: 2,
        steps_unsettled: 0,
        timeout_at: null,
        created_at: iso(created),
        started_at: iso(created),
        completed_at: durationMs === null ? null : iso(created + durationMs),
        updated_at: iso(created),
        deleted_at: null,
        idempotency_key: null,
      });
      const attempt = (stepId: string, number: number, outcome: string, ms: number): StepAttemptRow => ({
        execution_id: id,
        step_id: stepId,
        attempt: number,
        workspace_id: workspaceId,
        type: 'noop',
        status: outcome,
        used_fallback: 0,
        error: null,
        worker: null,
        queued_at: iso(created),
        started_at: iso(created),
        ended_at: iso(created + ms),
      });
      attempts.push(attempt('fetch', 1, status === 'failed' ? 'failed' : 'completed', 40));
      if (status === 'failed') attempts.push(attempt('fetch', 2, 'failed', 60));
      else attempts.push(attempt('store', 1, 'completed', 20));
    }
    await server.store.transaction(async (tx) => {
      await tx.executions.insertMany(executions);
      await tx.executionLog.recordAttempts(attempts);
    });
  }
}

/** Nearest-rank percentile of sorted values. */
const nearestRank = (sorted: number[], percent: number) => sorted[Math.ceil((sorted.length * percent) / 100) - 1];

for (const backend of testBackends()) {
  describe(`workflow metrics at 30,000 executions (${backend})`, () => {
    let server: TestServer;
    let workflowId: string;

    before(async () => {
      server = await startTestServer(backend);
      const workflow = await server.request('POST', '/workflows', {
        body: {
          name: 'Busy',
          steps: [
            { id: 'fetch', type: 'noop' },
            { id: 'store', type: 'noop', depends_on: ['fetch'] },
          ],
        },
      });
      assert.equal(workflow.status, 201, workflow.text);
      workflowId = workflow.body.id;
      const seeded = Date.now();
      await seed(server, workflow.body.workspace_id, workflowId);
      console.log(`[metrics.scale ${backend}] seeded ${EXECUTIONS} executions in ${Date.now() - seeded} ms`);
    });
    after(() => server.close());

    it('answers the seeded counts, durations and per-step attempts', async () => {
      const started = performance.now();
      const response = await server.request('GET', `/workflows/${workflowId}/metrics`);
      const elapsed = performance.now() - started;
      console.log(`[metrics.scale ${backend}] one call: ${elapsed.toFixed(1)} ms`);
      assert.equal(response.status, 200, response.text);
      const expected = { pending: 0, running: 0, paused: 0, completed: 0, failed: 0, cancelled: 0 };
      const durations: number[] = [];
      for (let index = 0; index < EXECUTIONS; index += 1) {
        const { status, durationMs } = planOf(index);
        expected[status as keyof typeof expected] += 1;
        if (durationMs !== null && (status === 'completed' || status === 'failed')) durations.push(durationMs);
      }
      durations.sort((a, b) => a - b);
      const body = response.body;
      assert.equal(body.executions.total, EXECUTIONS);
      assert.deepEqual(body.executions.by_status, expected);
      const ended = expected.completed + expected.failed + expected.cancelled;
      assert.equal(body.success_rate, expected.completed / ended);
      assert.deepEqual(body.duration_ms, {
        count: durations.length,
        p50: nearestRank(durations, 50),
        p95: nearestRank(durations, 95),
        max: durations.at(-1),
      });
      const fetch = body.steps.find((step: { step_id: string }) => step.step_id === 'fetch');
      const store = body.steps.find((step: { step_id: string }) => step.step_id === 'store');
      assert.equal(fetch.attempts, EXECUTIONS + expected.failed);
      assert.equal(fetch.failures, expected.failed * 2);
      assert.deepEqual(fetch.by_status, { completed: EXECUTIONS - expected.failed, failed: expected.failed * 2 });
      assert.deepEqual(fetch.duration_ms, { count: EXECUTIONS + expected.failed, p50: 40, p95: 60, max: 60 });
      assert.equal(store.attempts, EXECUTIONS - expected.failed);
      assert.deepEqual(store.duration_ms, { count: EXECUTIONS - expected.failed, p50: 20, p95: 20, max: 20 });
    });

    it('answers 10 parallel calls while /healthz keeps answering', async () => {
      const started = performance.now();
      // A question not asked before (every execution is after this `since`), so nothing is reused.
      const path = `/workflows/${workflowId}/metrics?since=2025-12-31T00:00:00Z`;
      const calls = Promise.all(Array.from({ length: 10 }, () => server.request('GET', path)));
      const healthz: number[] = [];
      let done = false;
      const probing = (async () => {
        while (!done) {
          const sent = performance.now();
          const answer = await sendRequest(server.url, 'GET', '!/healthz');
          assert.equal(answer.status, 200);
          healthz.push(performance.now() - sent);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const responses = await calls;
      const elapsed = performance.now() - started;
      done = true;
      await probing;
      for (const response of responses) {
        assert.equal(response.status, 200, response.text);
        assert.equal(response.body.executions.total, EXECUTIONS);
      }
      const worst = Math.max(...healthz);
      console.log(
        `[metrics.scale ${backend}] 10 parallel calls: ${elapsed.toFixed(0)} ms; /healthz answered ${healthz.length} times, worst ${worst.toFixed(0)} ms`,
      );
      assert.ok(elapsed < 2000, `10 parallel calls took ${elapsed.toFixed(0)} ms`);
      assert.ok(worst < 2000, `/healthz waited ${worst.toFixed(0)} ms`);
    });
  });
}
