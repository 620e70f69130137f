import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, createKey, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, waitForExecution } from './helpers/http-fixtures.js';
import { type MixPlan, millis, mixedDefinition, runMix, summary } from './helpers/metrics-fixtures.js';

/**
 * `GET /executions/stats` and `GET /workflows/{id}/metrics` over a known mix of completed, failed,
 * pending and cancelled executions. Expected numbers come from the executions and timelines the
 * API lists, checked against the plan that made them.
 */

const PLAN: MixPlan = { completed: 3, failed: 2, pending: 1, startedLater: 1, cancelled: 1 };

interface ListedExecution {
  id: string;
  workflow_id: string | null;
  status: string;
  started_at: string | null;
  completed_at: string | null;
}

for (const backend of testBackends()) {
  describe(`execution stats and workflow metrics (${backend})`, () => {
    let server: TestServer;
    let mixed: string;
    let other: string;
    let executions: ListedExecution[];

    const countBy = (items: ListedExecution[]) => {
      const counts = { pending: 0, queued: 0, running: 0, paused: 0, completed: 0, failed: 0, cancelled: 0 };
      for (const item of items) counts[item.status as keyof typeof counts] += 1;
      return counts;
    };
    const durationsOf = (items: ListedExecution[]) =>
      items
        .filter((item) => ['completed', 'failed'].includes(item.status) && item.started_at && item.completed_at)
        .map((item) => millis(item.started_at as string, item.completed_at as string));

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 100 });
      mixed = (await server.request('POST', '/workflows', { body: mixedDefinition('Mixed') })).body.id;
      other = (await server.request('POST', '/workflows', { body: simpleDefinition('Other') })).body.id;
      await runMix(server, mixed, PLAN);
      const single = await server.request('POST', `/workflows/${other}/executions`, { body: { input: { value: 1 } } });
      await waitForExecution(server, single.body.id, ['completed']);
      await waitForExecution(server, await runAdhoc(server, simpleDefinition('Ad hoc'), { value: 2 }), ['completed']);
      executions = (await server.request('GET', '/executions?limit=200')).body.items;
    });
    after(async () => {
      await server.close();
    });

    it('counts executions by status, in all and per workflow, with duration percentiles', async () => {
      const response = await server.request('GET', '/executions/stats');
      assert.equal(response.status, 200, response.text);
      const stats = response.body;
      const ofMixed = executions.filter((item) => item.workflow_id === mixed);
      assert.deepEqual(countBy(ofMixed), {
        pending: PLAN.pending,
        queued: 0,
        running: 0,
        paused: 0,
        completed: PLAN.completed + PLAN.startedLater,
        failed: PLAN.failed,
        cancelled: PLAN.cancelled,
      });
      assert.equal(stats.total, executions.length);
      assert.deepEqual(stats.by_status, countBy(executions));
      assert.equal(stats.workflow_id, null);
      assert.equal(stats.since, null);

      const groups = new Map(
        stats.workflows.map((group: { workflow_id: string | null }) => [group.workflow_id, group]),
      );
      assert.deepEqual([...groups.keys()].sort(), [mixed, other, null].sort());
      for (const [workflowId, group] of groups) {
        const items = executions.filter((item) => item.workflow_id === workflowId);
        assert.deepEqual(group, {
          workflow_id: workflowId,
          total: items.length,
          by_status: countBy(items),
          duration_ms: summary(durationsOf(items)),
        });
      }
      const durations = (groups.get(mixed) as { duration_ms: { count: number; p50: number; p95: number; max: number } })
        .duration_ms;
      assert.equal(durations.count, PLAN.completed + PLAN.startedLater + PLAN.failed);
      assert.ok(durations.p50 <= durations.p95 && durations.p95 <= durations.max, JSON.stringify(durations));
    });

    it('filters by workflow and by creation time', async () => {
      const filtered = (await server.request('GET', `/executions/stats?workflow_id=${other}`)).body;
      assert.equal(filtered.workflow_id, other);
      assert.equal(filtered.total, 1);
      assert.deepEqual(
        filtered.workflows.map((group: { workflow_id: string }) => group.workflow_id),
        [other],
      );

      const future = (await server.request('GET', '/executions/stats?since=2999-01-01T00:00:00Z')).body;
      assert.equal(future.total, 0);
      assert.deepEqual(future.workflows, []);
      assert.equal(future.since, '2999-01-01T00:00:00.000Z');

      const sorted = executions.map((item) => item.id).sort();
      const firstCreated = (await server.request('GET', `/executions/${sorted[0]}`)).body.created_at as string;
      const lastCreated = (await server.request('GET', `/executions/${sorted.at(-1)}`)).body.created_at as string;
      const sinceFirst = (await server.request('GET', `/executions/stats?since=${firstCreated}`)).body;
      assert.equal(sinceFirst.total, executions.length);
      const sinceLast = (await server.request('GET', `/executions/stats?since=${lastCreated}`)).body;
      assert.ok(sinceLast.total >= 1 && sinceLast.total < executions.length, `${sinceLast.total}`);

      assertProblem(await server.request('GET', '/executions/stats?since=yesterday'), 400, 'VALIDATION_FAILED');
      // A leap second is valid RFC 3339 but no JavaScript time: a 400, not a 500.
      const leap = await server.request('GET', '/executions/stats?since=2016-12-31T23:59:60Z');
      assertProblem(leap, 400, 'VALIDATION_FAILED');
      assert.equal(leap.body.errors[0].path, 'query/since');
      assertProblem(await server.request('GET', '/executions/stats?status=failed'), 400, 'VALIDATION_FAILED');
    });

    it('is not mistaken for an execution id, and keeps workspaces apart', async () => {
      const workspace = await server.request('POST', '/workspaces', { body: { slug: 'stats-other', name: 'Other' } });
      const outsider = await createKey(server, 'member', workspace.body.id);
      const theirs = await server.request('GET', '/executions/stats', { key: outsider });
      assert.equal(theirs.status, 200, theirs.text);
      assert.equal(theirs.body.total, 0);
      assertProblem(await server.request('GET', `/workflows/${mixed}/metrics`, { key: outsider }), 404, 'NOT_FOUND');
      assertProblem(await server.request('GET', '/workflows/wf_missing/metrics'), 404, 'NOT_FOUND');
      assertProblem(await server.request('GET', '/executions/stats', { key: null }), 401, 'UNAUTHORIZED');
    });

    it('reports success rate, durations and per-step attempts and failures of a workflow', async () => {
      const response = await server.request('GET', `/workflows/${mixed}/metrics`);
      assert.equal(response.status, 200, response.text);
      const metrics = response.body;
      const items = executions.filter((item) => item.workflow_id === mixed);
      const counts = countBy(items);
      assert.deepEqual(metrics.executions, { total: items.length, by_status: counts });
      const ended = counts.completed + counts.failed + counts.cancelled;
      assert.equal(metrics.success_rate, counts.completed / ended);
      assert.equal(metrics.success_rate, (PLAN.completed + PLAN.startedLater) / (ended || 1));
      assert.deepEqual(metrics.duration_ms, summary(durationsOf(items)));

      // Per step, from every attempt in the timelines.
      const attempts: Array<{ step_id: string; status: string; duration_ms: number | null }> = [];
      for (const item of items) {
        attempts.push(...(await server.request('GET', `/executions/${item.id}/timeline`)).body.items);
      }
      assert.deepEqual(
        metrics.steps.map((step: { step_id: string }) => step.step_id),
        ['check', 'after'],
        'in definition order',
      );
      for (const step of metrics.steps) {
        const own = attempts.filter((attempt) => attempt.step_id === step.step_id);
        const byStatus: Record<string, number> = {};
        for (const attempt of own) byStatus[attempt.status] = (byStatus[attempt.status] ?? 0) + 1;
        assert.deepEqual(step, {
          step_id: step.step_id,
          attempts: own.length,
          failures: byStatus.failed ?? 0,
          by_status: byStatus,
          duration_ms: summary(own.map((attempt) => attempt.duration_ms as number)),
        });
        const { p50, p95, max } = step.duration_ms as { p50: number; p95: number; max: number };
        assert.ok(p50 <= p95 && p95 <= max, JSON.stringify(step.duration_ms));
      }
      const check = metrics.steps[0];
      assert.equal(check.failures, PLAN.failed);
      assert.equal(check.attempts, PLAN.completed + PLAN.startedLater + PLAN.failed);
      assert.equal(metrics.steps[1].attempts, PLAN.completed + PLAN.startedLater);
    });

    it('shows a workflow without executions as empty, not as an error', async () => {
      const fresh = (await server.request('POST', '/workflows', { body: simpleDefinition('Unused') })).body.id;
      const metrics = (await server.request('GET', `/workflows/${fresh}/metrics`)).body;
      assert.equal(metrics.success_rate, null);
      assert.deepEqual(metrics.duration_ms, { count: 0, p50: null, p95: null, max: null });
      assert.deepEqual(
        metrics.steps.map((step: { step_id: string; attempts: number }) => [step.step_id, step.attempts]),
        [
          ['first', 0],
          ['second', 0],
        ],
      );
    });
  });
}
