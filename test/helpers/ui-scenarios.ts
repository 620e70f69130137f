import assert from 'node:assert/strict';
import { sendRequest } from './api-server.js';

/**
 * The workflows and executions the UI tests look at, made through the API of a real `weft
 * serve`: a failing fetch, a wait for a signal, a long delay to cancel, a `for_each` over child
 * workflows, and a fan-out of 500 steps.
 */

/** A client of one server with one key. */
export function apiOf(url: string, key: string) {
  return async function call(method: string, route: string, body?: unknown) {
    const response = await sendRequest(url, method, route, { key, body });
    return response;
  };
}
export type Api = ReturnType<typeof apiOf>;

/** POSTs and asserts the status; answers the body. */
export async function must(api: Api, method: string, route: string, body: unknown, status: number) {
  const response = await api(method, route, body);
  assert.equal(response.status, status, `${method} ${route}: ${response.text}`);
  return response.body;
}

/** Polls an execution until its status is one of `statuses`. */
export async function waitForStatus(api: Api, id: string, statuses: string[], timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await api('GET', `/executions/${id}`);
    if (statuses.includes(response.body.status)) return response.body;
    if (Date.now() > deadline) throw new Error(`execution ${id} is ${response.body.status}, not ${statuses.join('/')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Polls an execution until a step has `status`. */
export async function waitForStep(api: Api, id: string, stepId: string, status: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await api('GET', `/executions/${id}`);
    const step = response.body.steps.find((candidate: { step_id: string }) => candidate.step_id === stepId);
    if (step?.status === status) return response.body;
    if (Date.now() > deadline) throw new Error(`step ${stepId} of ${id} is ${step?.status}, not ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A definition with a fan-out of `width` noop steps between a root and a join. */
export function fanOut(width: number) {
  const children = Array.from({ length: width }, (_, index) => ({
    id: `child_${index}`,
    type: 'noop',
    depends_on: ['root'],
  }));
  return {
    name: `Fan-out ${width}`,
    steps: [
      { id: 'root', type: 'noop' },
      ...children,
      { id: 'join', type: 'noop', depends_on: children.map((child) => child.id) },
    ],
  };
}

/** Workflows of the scenarios, by role. */
export async function createScenarioWorkflows(api: Api) {
  const child = await must(
    api,
    'POST',
    '/workflows',
    {
      name: 'Colorize one image',
      labels: { team: 'media' },
      steps: [
        { id: 'load', type: 'noop', input: { image: '{{ input.image }}' } },
        { id: 'store', type: 'noop', input: { stored: true } },
      ],
      sequential: true,
      output: { image: '{{ input.image }}' },
    },
    201,
  );
  const pipeline = await must(
    api,
    'POST',
    '/workflows',
    {
      name: 'Moderate, tag and colorize uploads',
      description: 'Every uploaded image, in order',
      labels: { team: 'media' },
      input_schema: {
        type: 'object',
        required: ['folder', 'images'],
        properties: {
          folder: { type: 'string', description: 'Where the uploads are' },
          images: { type: 'array', items: { type: 'string' } },
          strict: { type: 'boolean' },
        },
      },
      steps: [
        { id: 'moderate', type: 'transform', input: { expression: '$count(images)', data: '{{ input }}' } },
        {
          id: 'tag',
          type: 'noop',
          for_each: '{{ input.images }}',
          concurrency: 2,
          input: { image: '{{ item }}' },
          depends_on: ['moderate'],
        },
        {
          id: 'colorize',
          type: 'workflow',
          for_each: '{{ input.images }}',
          concurrency: 2,
          input: { workflow_id: child.id, input: { image: '{{ item }}' } },
          depends_on: ['moderate'],
        },
        { id: 'notify', type: 'noop', input: { tags: '{{ steps.tag.output }}' }, depends_on: ['colorize'] },
      ],
      output: { count: '{{ steps.moderate.output }}' },
    },
    201,
  );
  const failing = await must(
    api,
    'POST',
    '/workflows',
    {
      name: 'Webpage summary (failing fetch)',
      steps: [
        {
          id: 'download',
          type: 'http',
          input: { url: 'http://127.0.0.1:9/page', timeout_seconds: 2 },
          retry: { max_attempts: 2, backoff: 'fixed', delay_ms: 50 },
        },
        { id: 'extract', type: 'html.extract_text', input: { html: '{{ steps.download.output.body }}' } },
      ],
    },
    201,
  );
  const approval = await must(
    api,
    'POST',
    '/workflows',
    {
      name: 'Publish after approval',
      steps: [
        { id: 'draft', type: 'noop', input: { title: 'Hello' } },
        { id: 'approve', type: 'wait_for_signal', input: { signal: 'approval' }, depends_on: ['draft'] },
        { id: 'publish', type: 'noop', input: { by: '{{ steps.approve.output.by }}' } },
      ],
    },
    201,
  );
  const slow = await must(
    api,
    'POST',
    '/workflows',
    {
      name: 'Slow render',
      steps: [
        { id: 'prepare', type: 'noop' },
        { id: 'render', type: 'delay', input: { seconds: 120 }, depends_on: ['prepare'] },
      ],
    },
    201,
  );
  return { child, pipeline, failing, approval, slow };
}
