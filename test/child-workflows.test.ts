import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution, waitUntil } from './helpers/http-fixtures.js';

/** `workflow` steps (SPEC §3.1): child executions, seen through the API. */

async function createWorkflow(server: TestServer, definition: Record<string, unknown>): Promise<string> {
  const response = await server.request('POST', '/workflows', { body: definition });
  assert.equal(response.status, 201, response.text);
  return response.body.id;
}

async function childrenOf(server: TestServer, parentId: string) {
  const response = await server.request('GET', `/executions?parent_execution_id=${parentId}`);
  assert.equal(response.status, 200, response.text);
  return response.body.items as Array<{
    id: string;
    status: string;
    parent_execution_id: string;
    parent_step_id: string;
  }>;
}

const callStep = (workflowId: string, extra: Record<string, unknown> = {}) => ({
  id: 'call',
  type: 'workflow',
  input: { workflow_id: workflowId, input: { n: '{{ input.n }}' } },
  ...extra,
});

for (const backend of testBackends()) {
  describe(`child workflows (${backend})`, () => {
    let server: TestServer;
    let doubler: string;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250, maxWorkflowDepth: 3 });
      doubler = await createWorkflow(server, {
        name: 'doubler',
        steps: [{ id: 'double', type: 'transform', input: { expression: '$ * 2', data: '{{ input.n }}' } }],
        output: { doubled: '{{ steps.double.output }}' },
      });
    });
    after(() => server.close());

    it("makes the child's output the step output, and links parent and child both ways", async () => {
      const id = await runAdhoc(server, { name: 'parent', steps: [callStep(doubler)] }, { n: 21 });
      const parent = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(parent.status, 'completed', JSON.stringify(parent));
      const step = parent.steps.find((candidate: { step_id: string }) => candidate.step_id === 'call');
      assert.deepEqual(step.output, { doubled: 42 });
      assert.equal(step.attempts, 1);
      const children = await childrenOf(server, id);
      assert.equal(children.length, 1);
      assert.equal(children[0]?.id, step.child_execution_id);
      const child = (await server.request('GET', `/executions/${step.child_execution_id}`)).body;
      assert.equal(child.parent_execution_id, id);
      assert.equal(child.parent_step_id, 'call');
      assert.equal(child.workflow_id, doubler);
      assert.deepEqual(child.input, { n: 21 });
      assert.equal(parent.parent_execution_id, null);
    });

    it('completes the parent step (output null) when a child without an output template completes', async () => {
      // Such children end in the batched completion path, which must wake their parents too.
      const plain = await createWorkflow(server, {
        name: 'no output',
        steps: [
          { id: 'a', type: 'noop' },
          { id: 'b', type: 'noop', depends_on: ['a'] },
        ],
      });
      const ids = await Promise.all(
        Array.from({ length: 5 }, () => runAdhoc(server, { name: 'plain parent', steps: [callStep(plain)] }, { n: 1 })),
      );
      for (const id of ids) {
        const parent = await waitForExecution(server, id, ['completed', 'failed'], 10_000);
        assert.equal(parent.status, 'completed', JSON.stringify(parent));
        assert.equal(stepOf(parent, 'call').output, null);
      }
    });

    it('fails the attempt when the child fails; a retry starts a new child and the fallback applies', async () => {
      const failing = await createWorkflow(server, {
        name: 'failing child',
        steps: [{ id: 'boom', type: 'transform', input: { expression: '$error("child broke")', data: 1 } }],
      });
      const id = await runAdhoc(server, {
        name: 'retrying parent',
        steps: [
          callStep(failing, {
            retry: { max_attempts: 2, backoff: 'fixed', delay_ms: 0 },
            fallback: { type: 'noop', input: { fell_back: true } },
          }),
        ],
      });
      const parent = await waitForExecution(server, id, ['completed', 'failed']);
      const step = stepOf(parent, 'call');
      assert.equal(parent.status, 'completed', JSON.stringify(parent));
      assert.equal(step.used_fallback, true);
      assert.deepEqual(step.output, { fell_back: true });
      const children = await childrenOf(server, id);
      assert.equal(children.length, 2, 'one child per attempt');
      assert.ok(children.every((child) => child.status === 'failed'));
      const timeline = (await server.request('GET', `/executions/${id}/timeline`)).body;
      const failed = timeline.items.filter((item: { status: string }) => item.status === 'failed');
      assert.equal(failed.length, 2);
      assert.match(failed[0].error.message, /child execution 'ex_[^']+' failed/);
    });

    it('cancelling a parent cancels its child and grandchild', async () => {
      const sleeper = await createWorkflow(server, {
        name: 'sleeper',
        steps: [{ id: 'sleep', type: 'delay', input: { seconds: 60 } }],
      });
      const middle = await createWorkflow(server, {
        name: 'middle',
        steps: [{ id: 'call', type: 'workflow', input: { workflow_id: sleeper, input: {} } }],
      });
      const id = await runAdhoc(server, {
        name: 'top',
        steps: [{ id: 'call', type: 'workflow', input: { workflow_id: middle, input: {} } }],
      });
      let grandchild = '';
      await waitUntil(async () => {
        const [child] = await childrenOf(server, id);
        if (!child) return false;
        const [grand] = await childrenOf(server, child.id);
        grandchild = grand?.id ?? '';
        return grand?.status === 'running';
      }, 'a running grandchild');
      const parent = (await server.request('GET', `/executions/${id}`)).body;
      assert.equal(stepOf(parent, 'call').status, 'waiting');
      const cancelled = await server.request('POST', `/executions/${id}/cancel`);
      assert.equal(cancelled.status, 200, cancelled.text);
      const [child] = await childrenOf(server, id);
      assert.equal(child?.status, 'cancelled');
      assert.equal((await server.request('GET', `/executions/${grandchild}`)).body.status, 'cancelled');
    });

    it('cancelling a child fails its parent step (retryable)', async () => {
      const sleeper = await createWorkflow(server, {
        name: 'sleeper 2',
        steps: [{ id: 'sleep', type: 'delay', input: { seconds: 60 } }],
      });
      const id = await runAdhoc(server, {
        name: 'parent of cancelled',
        steps: [{ id: 'call', type: 'workflow', input: { workflow_id: sleeper, input: {} } }],
      });
      await waitUntil(async () => (await childrenOf(server, id)).length === 1, 'a child');
      const [child] = await childrenOf(server, id);
      assert.equal((await server.request('POST', `/executions/${child?.id}/cancel`)).status, 200);
      const parent = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(parent.status, 'failed');
      assert.match(stepOf(parent, 'call').error.message, /was cancelled/);
    });

    it('fails without retry beyond WEFT_MAX_WORKFLOW_DEPTH', async () => {
      // A workflow that calls itself: depths 1 to 3 run; the 4th level is refused (cap 3 here).
      // (No retry policy: retried levels would multiply the children.)
      const recursive = await createWorkflow(server, { name: 'recursive', steps: [{ id: 'noop', type: 'noop' }] });
      const updated = await server.request('PUT', `/workflows/${recursive}`, {
        body: {
          name: 'recursive',
          steps: [
            {
              id: 'again',
              type: 'workflow',
              input: { workflow_id: recursive, input: {} },
            },
          ],
        },
      });
      assert.equal(updated.status, 200, updated.text);
      const started = await server.request('POST', `/workflows/${recursive}/executions`, { body: { input: {} } });
      assert.equal(started.status, 202, started.text);
      const top = await waitForExecution(server, started.body.id, ['completed', 'failed']);
      assert.equal(top.status, 'failed');
      let current = top;
      let depth = 0;
      while (stepOf(current, 'again').error?.details?.child_execution_id) {
        current = (
          await server.request('GET', `/executions/${stepOf(current, 'again').error.details.child_execution_id}`)
        ).body;
        depth += 1;
      }
      assert.equal(depth, 3);
      const deepest = stepOf(current, 'again');
      assert.equal(deepest.error.retryable, false);
      assert.match(deepest.error.message, /WEFT_MAX_WORKFLOW_DEPTH \(3\)/);
    });

    it('fails without retry, naming it, for an unknown, disabled or deleted child workflow', async () => {
      const disabled = await createWorkflow(server, {
        name: 'off',
        enabled: false,
        steps: [{ id: 'a', type: 'noop' }],
      });
      const deleted = await createWorkflow(server, { name: 'gone', steps: [{ id: 'a', type: 'noop' }] });
      assert.equal((await server.request('DELETE', `/workflows/${deleted}`)).status, 204);
      const cases: Array<[string, RegExp]> = [
        ['wf_nosuchworkflow', /child workflow 'wf_nosuchworkflow' does not exist/],
        [disabled, new RegExp(`child workflow '${disabled}' is disabled`)],
        [deleted, new RegExp(`child workflow '${deleted}' was deleted`)],
      ];
      for (const [workflowId, message] of cases) {
        const id = await runAdhoc(
          server,
          {
            name: 'bad child',
            steps: [
              {
                id: 'call',
                type: 'workflow',
                retry: { max_attempts: 3, delay_ms: 0 },
                input: { workflow_id: '{{ input.target }}', input: {} },
              },
            ],
          },
          { target: workflowId },
        );
        const parent = await waitForExecution(server, id, ['completed', 'failed']);
        const step = stepOf(parent, 'call');
        assert.equal(parent.status, 'failed');
        assert.equal(step.attempts, 1);
        assert.match(step.error.message, message);
        assert.equal((await childrenOf(server, id)).length, 0);
      }
    });

    it('rejects a definition naming a missing child workflow literally, at its path', async () => {
      const missing = await server.request('POST', '/workflows', {
        body: {
          name: 'typo',
          steps: [
            { id: 'call', type: 'workflow', input: { workflow_id: 'wf_typo' } },
            {
              id: 'other',
              type: 'noop',
              fallback: { type: 'workflow', input: { workflow_id: 'wf_typo_too' } },
            },
          ],
        },
      });
      assert.equal(missing.status, 400, missing.text);
      assert.equal(missing.body.code, 'DEFINITION_INVALID');
      assert.deepEqual(
        missing.body.errors.map((error: { path: string }) => error.path),
        ['/steps/0/input/workflow_id', '/steps/1/fallback/input/workflow_id'],
      );
      assert.match(missing.body.errors[0].message, /no workflow 'wf_typo' exists/);
      const adhoc = await server.request('POST', '/executions', {
        body: {
          definition: { name: 'typo', steps: [{ id: 'call', type: 'workflow', input: { workflow_id: 'wf_typo' } }] },
        },
      });
      assert.equal(adhoc.status, 400, adhoc.text);
      assert.equal(adhoc.body.errors[0].path, '/definition/steps/0/input/workflow_id');
      // An existing workflow, or an id made by a template (checked when the attempt runs), pass.
      await createWorkflow(server, { name: 'fine', steps: [callStep(doubler)] });
      await createWorkflow(server, {
        name: 'templated',
        steps: [{ id: 'call', type: 'workflow', input: { workflow_id: '{{ input.target }}' } }],
      });
    });
  });
}
