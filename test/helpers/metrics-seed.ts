import assert from 'node:assert/strict';
import { newId } from '../../src/ids.js';
import type { ExecutionRow, StepAttemptRow } from '../../src/store/database-schema.js';
import type { TestServer } from './api-server.js';

/**
 * A workflow with 30,000 executions written straight into the store (no engine), with known
 * statuses and durations, for the metrics scale tests; and what `GET /workflows/{id}/metrics`
 * must answer for it.
 */

/** How many executions `seedBusyWorkflow` writes. */
export const SEEDED_EXECUTIONS = 30_000;
const BASE = Date.parse('2026-01-01T00:00:00.000Z');

/** Execution `index`: its status and, when it ended, its duration (ms). */
function planOf(index: number): { status: string; durationMs: number | null } {
  if (index % 10 === 9) return { status: 'failed', durationMs: 1000 + (index % 7) };
  if (index % 50 === 3) return { status: 'cancelled', durationMs: null };
  if (index % 100 === 5) return { status: 'running', durationMs: null };
  return { status: 'completed', durationMs: 100 + (index % 1000) };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** An execution row to write straight into the store: `fields` over an ended, undeleted run's. */
export function seededExecution(
  fields: Pick<ExecutionRow, 'id' | 'workspace_id' | 'workflow_id' | 'status' | 'created_at'> & Partial<ExecutionRow>,
): ExecutionRow {
  return {
    workflow_version: fields.workflow_id === null ? null : 1,
    adhoc_definition: fields.workflow_id === null ? '{}' : null,
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
    started_at: fields.created_at,
    completed_at: null,
    updated_at: fields.created_at,
    deleted_at: null,
    idempotency_key: null,
    ...fields,
  };
}

/** An attempt row to write straight into the store: `fields` over a first `noop` attempt's. */
export function seededAttempt(
  fields: Pick<StepAttemptRow, 'execution_id' | 'step_id' | 'workspace_id' | 'status' | 'started_at' | 'ended_at'> &
    Partial<StepAttemptRow>,
): StepAttemptRow {
  return {
    attempt: 1,
    type: 'noop',
    used_fallback: 0,
    error: null,
    worker: null,
    queued_at: fields.started_at,
    ...fields,
  };
}

/** Seeds the executions and their attempts (step `fetch` twice when it failed, `store` once). */
async function seed(server: TestServer, workspaceId: string, workflowId: string) {
  for (let start = 0; start < SEEDED_EXECUTIONS; start += 1000) {
    const executions: ExecutionRow[] = [];
    const attempts: StepAttemptRow[] = [];
    for (let index = start; index < start + 1000; index += 1) {
      const { status, durationMs } = planOf(index);
      const created = BASE + index * 60_000;
      const id = newId('ex');
      executions.push(
        seededExecution({
          id,
          workspace_id: workspaceId,
          workflow_id: workflowId,
          status,
          created_at: iso(created),
          completed_at: durationMs === null ? null : iso(created + durationMs),
        }),
      );
      const attempt = (stepId: string, number: number, outcome: string, ms: number): StepAttemptRow =>
        seededAttempt({
          execution_id: id,
          step_id: stepId,
          attempt: number,
          workspace_id: workspaceId,
          status: outcome,
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

/** Creates workflow `Busy` (steps `fetch`, then `store`) and seeds its executions; returns its id. */
export async function seedBusyWorkflow(server: TestServer, label: string): Promise<string> {
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
  const seeded = Date.now();
  await seed(server, workflow.body.workspace_id, workflow.body.id);
  console.log(`[${label}] seeded ${SEEDED_EXECUTIONS} executions in ${Date.now() - seeded} ms`);
  return workflow.body.id;
}

/** Nearest-rank percentile of sorted values. */
const nearestRank = (sorted: number[], percent: number) => sorted[Math.ceil((sorted.length * percent) / 100) - 1];

/**
 * Asserts a metrics answer for the seeded workflow, with a `since` before every execution (or
 * none): counts, success rate, nearest-rank durations and per-step attempts, all exact.
 */
// biome-ignore lint/suspicious/noExplicitAny: a JSON body read field by field
export function assertSeededMetrics(body: any): void {
  const expected = { pending: 0, queued: 0, running: 0, paused: 0, completed: 0, failed: 0, cancelled: 0 };
  const durations: number[] = [];
  for (let index = 0; index < SEEDED_EXECUTIONS; index += 1) {
    const { status, durationMs } = planOf(index);
    expected[status as keyof typeof expected] += 1;
    if (durationMs !== null && (status === 'completed' || status === 'failed')) durations.push(durationMs);
  }
  durations.sort((a, b) => a - b);
  assert.equal(body.executions.total, SEEDED_EXECUTIONS);
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
  assert.equal(fetch.attempts, SEEDED_EXECUTIONS + expected.failed);
  assert.equal(fetch.failures, expected.failed * 2);
  assert.deepEqual(fetch.by_status, { completed: SEEDED_EXECUTIONS - expected.failed, failed: expected.failed * 2 });
  assert.deepEqual(fetch.duration_ms, { count: SEEDED_EXECUTIONS + expected.failed, p50: 40, p95: 60, max: 60 });
  assert.equal(store.attempts, SEEDED_EXECUTIONS - expected.failed);
  assert.deepEqual(store.duration_ms, { count: SEEDED_EXECUTIONS - expected.failed, p50: 20, p95: 20, max: 20 });
}
