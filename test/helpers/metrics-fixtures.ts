import assert from 'node:assert/strict';
import type { TestServer } from './api-server.js';
import { waitForExecution } from './http-fixtures.js';

/** Workflows and executions with a known mix of outcomes, for the stats and metrics tests. */

/** Two steps: `check` fails when the input says so, `after` runs when it did not. */
export function mixedDefinition(name: string) {
  return {
    name,
    steps: [
      {
        id: 'check',
        type: 'transform',
        input: { expression: "fail ? $error('requested failure') : value", data: '{{ input }}' },
      },
      { id: 'after', type: 'noop', input: { checked: '{{ steps.check.output }}' } },
    ],
  };
}

/** What a mix consists of. */
export interface MixPlan {
  completed: number;
  failed: number;
  /** Created with `start: false` and left alone. */
  pending: number;
  /** Created with `start: false`, then started (they complete). */
  startedLater: number;
  /** Created with `start: false`, then cancelled. */
  cancelled: number;
}

/** Runs a mix of executions of `workflowId`, waits for every started one to end; returns their ids. */
export async function runMix(server: TestServer, workflowId: string, plan: MixPlan): Promise<string[]> {
  const start = async (input: unknown, startNow: boolean) => {
    const response = await server.request('POST', `/workflows/${workflowId}/executions`, {
      body: { input, start: startNow },
    });
    assert.equal(response.status, 202, response.text);
    return response.body.id as string;
  };
  const ids: string[] = [];
  const ending: string[] = [];
  for (let index = 0; index < plan.completed; index += 1) ending.push(await start({ fail: false, value: index }, true));
  for (let index = 0; index < plan.failed; index += 1) ending.push(await start({ fail: true, value: index }, true));
  for (let index = 0; index < plan.pending; index += 1) ids.push(await start({ fail: false, value: index }, false));
  for (let index = 0; index < plan.startedLater; index += 1) {
    const id = await start({ fail: false, value: index }, false);
    assert.equal((await server.request('POST', `/executions/${id}/start`)).status, 200);
    ending.push(id);
  }
  for (let index = 0; index < plan.cancelled; index += 1) {
    const id = await start({ fail: false, value: index }, false);
    assert.equal((await server.request('POST', `/executions/${id}/cancel`)).status, 200);
    ids.push(id);
  }
  for (const id of ending) await waitForExecution(server, id, ['completed', 'failed']);
  return [...ids, ...ending];
}

/** Nearest-rank percentile (the value at rank ⌈p·n⌉), as the server computes it. */
export function nearestRank(values: readonly number[], percent: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length * percent + 99) / 100) - 1] ?? null;
}

/** `{count, p50, p95, max}` of durations, as the server reports them. */
export function summary(values: readonly number[]) {
  return {
    count: values.length,
    p50: nearestRank(values, 50),
    p95: nearestRank(values, 95),
    max: values.length === 0 ? null : Math.max(...values),
  };
}

/** Milliseconds between two ISO times. */
export const millis = (from: string, to: string) => Date.parse(to) - Date.parse(from);
