import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ulid } from 'ulid';
import type { ExecutionRow, StepAttemptRow } from '../src/store/database-schema.js';
import type { Store } from '../src/store/store.js';
import { createTestDatabase, type TestDatabase, testBackends } from './helpers/backends.js';
import { summary } from './helpers/metrics-fixtures.js';
import { seededAttempt, seededExecution } from './helpers/metrics-seed.js';

/**
 * The aggregates' counts and nearest-rank percentiles (migration 0018: durations the database
 * computes, percentiles walked from an index, step percentiles from a histogram) against the same
 * figures computed here from the rows, over generated histories: several workflows and ad-hoc runs,
 * every status, deleted executions, equal durations, and a `since` that cuts the history.
 */

const WORKFLOWS = ['wf_percentiles_a', 'wf_percentiles_b', null] as const;
const STATUSES = ['completed', 'failed', 'cancelled', 'running', 'pending'] as const;
const ATTEMPT_STATUSES = ['completed', 'failed', 'lost', 'interrupted'] as const;
const BASE = Date.UTC(2026, 0, 1);

const historyArb = fc.record({
  executions: fc.array(
    fc.record({
      workflow: fc.constantFrom(...WORKFLOWS),
      status: fc.constantFrom(...STATUSES),
      // Few distinct values too, so equal durations sit on a rank's either side.
      durationMs: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 100_000 })),
      createdMinute: fc.integer({ min: 0, max: 600 }),
      deleted: fc.integer({ min: 0, max: 7 }).map((draw) => draw === 0),
      attempts: fc.array(
        fc.record({
          step: fc.constantFrom('first', 'second'),
          status: fc.constantFrom(...ATTEMPT_STATUSES),
          durationMs: fc.integer({ min: 0, max: 3_000 }),
        }),
        { maxLength: 3 },
      ),
    }),
    { minLength: 1, maxLength: 120 },
  ),
  sinceMinute: fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined }),
});

type History = typeof historyArb extends fc.Arbitrary<infer T> ? T : never;

const iso = (ms: number) => new Date(ms).toISOString();

function rowsOf(workspaceId: string, history: History) {
  const executions: ExecutionRow[] = [];
  const attempts: StepAttemptRow[] = [];
  for (const planned of history.executions) {
    const created = BASE + planned.createdMinute * 60_000 + executions.length;
    const ended = ['completed', 'failed', 'cancelled'].includes(planned.status);
    const started = planned.status === 'pending' ? null : created + 10;
    const execution = seededExecution({
      id: `ex_${ulid(created).toLowerCase()}`,
      workspace_id: workspaceId,
      workflow_id: planned.workflow,
      status: planned.status,
      steps_unsettled: ended ? 0 : 2,
      created_at: iso(created),
      started_at: started === null ? null : iso(started),
      completed_at: ended && started !== null ? iso(started + planned.durationMs) : null,
      deleted_at: planned.deleted ? iso(created + 1) : null,
    });
    executions.push(execution);
    planned.attempts.forEach((attempt, index) => {
      attempts.push(
        seededAttempt({
          execution_id: execution.id,
          step_id: attempt.step,
          attempt: index + 1,
          workspace_id: workspaceId,
          status: attempt.status,
          started_at: iso(created + 20),
          ended_at: iso(created + 20 + attempt.durationMs),
        }),
      );
    });
  }
  return { executions, attempts };
}

/** What the aggregates must say, computed from the generated rows. */
function expected(history: History, rows: ReturnType<typeof rowsOf>, workflow: string | null | undefined) {
  const since = history.sinceMinute === undefined ? undefined : iso(BASE + history.sinceMinute * 60_000);
  const live = rows.executions.filter(
    (row) =>
      row.deleted_at === null &&
      (since === undefined || row.created_at >= since) &&
      (workflow === undefined || row.workflow_id === workflow),
  );
  const counts = new Map<string, number>();
  for (const row of live)
    counts.set(`${row.workflow_id}/${row.status}`, (counts.get(`${row.workflow_id}/${row.status}`) ?? 0) + 1);
  const durations = new Map<string | null, ReturnType<typeof summary>>();
  for (const bucket of new Set(live.map((row) => row.workflow_id))) {
    const measured = live
      .filter((row) => row.workflow_id === bucket && ['completed', 'failed'].includes(row.status) && row.completed_at)
      .map((row) => Date.parse(row.completed_at as string) - Date.parse(row.started_at as string));
    if (measured.length > 0) durations.set(bucket, summary(measured));
  }
  const liveIds = new Set(live.map((row) => row.id));
  const ofLive = rows.attempts.filter((row) => liveIds.has(row.execution_id));
  const attemptCounts = new Map<string, number>();
  for (const row of ofLive)
    attemptCounts.set(`${row.step_id}/${row.status}`, (attemptCounts.get(`${row.step_id}/${row.status}`) ?? 0) + 1);
  const attemptDurations = new Map<string | null, ReturnType<typeof summary>>();
  for (const step of ['first', 'second']) {
    const measured = ofLive
      .filter((row) => row.step_id === step && ['completed', 'failed'].includes(row.status))
      .map((row) => Date.parse(row.ended_at as string) - Date.parse(row.started_at as string));
    if (measured.length > 0) attemptDurations.set(step, summary(measured));
  }
  return { since, counts, durations, attemptCounts, attemptDurations };
}

const countMap = (rows: Array<{ key: string | null; status: string; count: number }>) =>
  new Map(rows.map((row) => [`${row.key}/${row.status}`, row.count]));

for (const backend of testBackends()) {
  describe(`aggregate percentiles against the rows (${backend})`, () => {
    let database: TestDatabase;
    let store: Store;

    before(async () => {
      database = await createTestDatabase(backend);
      store = database.open();
      await store.migrate();
    });
    after(async () => {
      await store.close();
      await database.drop();
    });

    it('counts and ranks as computed from the rows, for the workspace, each workflow and each step', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(historyArb, async (history) => {
          run += 1;
          const workspace = await store.workspaces.create({ slug: `percentiles-${run}`, name: `run ${run}` });
          const rows = rowsOf(workspace.id, history);
          await store.transaction(async (tx) => {
            await tx.executions.insertMany(rows.executions);
            await tx.executionLog.recordAttempts(rows.attempts);
          });
          const all = expected(history, rows, undefined);
          const workspaceSummary = await store.stats.executionSummary(workspace.id, { since: all.since });
          assert.deepEqual(countMap(workspaceSummary.counts), all.counts);
          assert.deepEqual(workspaceSummary.durations, all.durations);
          for (const workflow of WORKFLOWS) {
            if (workflow === null) continue;
            const one = expected(history, rows, workflow);
            const workflowSummary = await store.stats.executionSummary(workspace.id, {
              workflowId: workflow,
              since: one.since,
            });
            assert.deepEqual(countMap(workflowSummary.counts), one.counts);
            assert.deepEqual(workflowSummary.durations, one.durations);
            const steps = await store.stats.attemptSummary(workspace.id, workflow, one.since);
            assert.deepEqual(countMap(steps.counts), one.attemptCounts);
            assert.deepEqual(steps.durations, one.attemptDurations);
          }
        }),
        { numRuns: 25 },
      );
    });
  });
}
