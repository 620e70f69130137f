import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestDatabase, postgresOnly, testBackends } from './helpers/backends.js';
import { startFixtureServer, waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe, startServes } from './helpers/processes.js';
import { api, countByStatus, serveEnv } from './helpers/serve-restarts.js';

/**
 * Child workflows with real processes (issue 10, "how it must hold"): `weft serve` is SIGKILLed
 * while children run, and several processes share PostgreSQL. Each attempt of a `workflow` step
 * makes at most one child, every parent ends, nothing stays running.
 */

interface StepView {
  step_id: string;
  status: string;
  attempts: number;
  child_execution_id: string | null;
}

async function childrenOf(url: string, parentId: string): Promise<Array<{ id: string; status: string }>> {
  const response = await api(url, 'GET', `/executions?parent_execution_id=${parentId}&limit=200`);
  assert.equal(response.status, 200, response.text);
  return response.body.items;
}

/** Creates the child (one slow http step against `recorderUrl`) and the parent that calls it. */
async function createPair(url: string, recorderUrl: string): Promise<string> {
  const child = await api(url, 'POST', '/workflows', {
    name: 'slow child',
    steps: [{ id: 'work', type: 'http', input: { url: `${recorderUrl}/work`, method: 'POST', body: {} } }],
    output: { done: true },
  });
  assert.equal(child.status, 201, child.text);
  const parent = await api(url, 'POST', '/workflows', {
    name: 'parent',
    steps: [
      { id: 'call', type: 'workflow', input: { workflow_id: child.body.id } },
      { id: 'after', type: 'noop', depends_on: ['call'] },
    ],
  });
  assert.equal(parent.status, 201, parent.text);
  return parent.body.id;
}

/** Every parent completed, and each attempt of its `call` step made at most one child. */
async function assertOneChildPerAttempt(url: string, parents: string[]): Promise<number> {
  let children = 0;
  for (const id of parents) {
    const parent = (await api(url, 'GET', `/executions/${id}`)).body;
    assert.equal(parent.status, 'completed', `${id}: ${JSON.stringify(parent.error)}`);
    const call = (parent.steps as StepView[]).find((step) => step.step_id === 'call') as StepView;
    const made = await childrenOf(url, id);
    assert.ok(made.length >= 1, `${id} made no child`);
    assert.ok(made.length <= call.attempts, `${id}: ${made.length} children in ${call.attempts} attempts`);
    assert.ok(
      made.some((child) => child.id === call.child_execution_id && child.status === 'completed'),
      `${id}: its step shows its completed child`,
    );
    children += made.length;
  }
  return children;
}

for (const backend of testBackends()) {
  describe(`child workflows across crashes (${backend})`, () => {
    it('finishes every parent after kill -9 mid-run, one child per attempt', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      // The first ten children finish at once; the others are still running at the kill.
      let calls = 0;
      const recorder = await startFixtureServer(async () => {
        calls += 1;
        await new Promise((resolve) => setTimeout(resolve, calls <= 10 ? 20 : 3000));
        return { json: { ok: true } };
      });
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(serveEnv(database));
        const workflowId = await createPair(serve.url, recorder.url);
        const parents: string[] = [];
        for (let index = 0; index < 30; index += 1) {
          parents.push((await api(serve.url, 'POST', `/workflows/${workflowId}/executions`, {})).body.id);
        }
        const first = serve.url;
        await waitUntil(
          async () => (await countByStatus(first, 'completed')) >= 5,
          'some children and parents to complete before the kill',
          30_000,
        );
        assert.ok((await countByStatus(first, 'running')) > 0, 'the kill comes while children run');
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        serve = await startServe(serveEnv(database));
        const url = serve.url;
        // 30 parents and their 30 (or more, after lost attempts) children.
        await waitUntil(
          async () => {
            let done = 0;
            for (const id of parents)
              done += (await api(url, 'GET', `/executions/${id}`)).body.status === 'completed' ? 1 : 0;
            return done === parents.length;
          },
          'every parent to complete',
          60_000,
        );
        await assertOneChildPerAttempt(url, parents);
        assert.equal(await countByStatus(url, 'running'), 0, 'nothing stays running');
      } finally {
        await serve?.stop('SIGKILL');
        await recorder.close();
        await database.drop();
      }
    });

    it(
      'never makes two children for one attempt with two processes on one database',
      postgresOnly(backend, 'several processes share PostgreSQL'),
      async () => {
        const database = await createTestDatabase(backend, { migrated: true });
        const recorder = await startFixtureServer(async () => ({ json: { ok: true } }));
        const processes: ServeProcess[] = [];
        try {
          processes.push(
            ...(await startServes(database, [
              serveEnv(database, { WEFT_NODE_ID: 'children-a' }),
              serveEnv(database, { WEFT_NODE_ID: 'children-b' }),
            ])),
          );
          const [a, b] = processes as [ServeProcess, ServeProcess];
          const workflowId = await createPair(a.url, recorder.url);
          const parents: string[] = [];
          for (let index = 0; index < 60; index += 1) {
            const target = index % 2 === 0 ? a : b;
            parents.push((await api(target.url, 'POST', `/workflows/${workflowId}/executions`, {})).body.id);
          }
          await waitUntil(
            async () => (await countByStatus(a.url, 'completed')) === parents.length * 2,
            'every parent and child to complete',
            60_000,
          );
          const children = await assertOneChildPerAttempt(b.url, parents);
          assert.equal(children, parents.length, 'exactly one child per parent');
        } finally {
          for (const serve of processes) await serve.stop('SIGKILL');
          await recorder.close();
          await database.drop();
        }
      },
    );
  });
}
