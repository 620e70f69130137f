import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sendRequest } from './helpers/api-server.js';
import { createTestDatabase, postgresOnly, testBackends } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe, startServes } from './helpers/processes.js';
import { ADMIN_KEY, api, countByStatus, serveEnv } from './helpers/serve-restarts.js';

/**
 * Signals with real processes (issue 10, "how it must hold"): a `weft serve` SIGKILLed while
 * steps wait for signals, then restarted; several processes on one PostgreSQL racing signals
 * against waits. No signal is lost or consumed twice, timers survive, nothing stays stuck.
 */

interface StepView {
  step_id: string;
  status: string;
  attempts: number;
  output: unknown;
  used_fallback: boolean;
}

interface SignalView {
  id: string;
  name: string;
  data: unknown;
  consumed_by_step: string | null;
}

const stepsOf = async (url: string, id: string): Promise<Map<string, StepView>> => {
  const body = (await api(url, 'GET', `/executions/${id}`)).body;
  return new Map((body.steps as StepView[]).map((step) => [step.step_id, step]));
};

const signalsOf = async (url: string, id: string): Promise<SignalView[]> =>
  (await api(url, 'GET', `/executions/${id}/signals?limit=200`)).body.items;

async function allWaiting(url: string, ids: string[], stepIds: string[]): Promise<boolean> {
  for (const id of ids) {
    const steps = await stepsOf(url, id);
    if (!stepIds.every((stepId) => steps.get(stepId)?.status === 'waiting')) return false;
  }
  return true;
}

async function allCompleted(url: string, ids: string[]): Promise<boolean> {
  for (const id of ids) if ((await api(url, 'GET', `/executions/${id}`)).body.status !== 'completed') return false;
  return true;
}

for (const backend of testBackends()) {
  describe(`signals across crashes (${backend})`, () => {
    it('keeps waits and timers through kill -9: signals sent after the restart complete them, each once', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(serveEnv(database));
        const created = await api(serve.url, 'POST', '/workflows', {
          name: 'approval with a deadline',
          steps: [
            { id: 'approve', type: 'wait_for_signal', input: { signal: 'go' } },
            {
              id: 'deadline',
              type: 'wait_for_signal',
              // Long enough for 20 starts and their waits on a loaded machine, before the kill.
              input: { signal: 'never', timeout_seconds: 8 },
              fallback: { type: 'noop', input: { timed_out: true } },
            },
            { id: 'after', type: 'noop', depends_on: ['approve', 'deadline'], input: {} },
          ],
        });
        assert.equal(created.status, 201, created.text);
        const ids: string[] = [];
        for (let index = 0; index < 20; index += 1) {
          ids.push((await api(serve.url, 'POST', `/workflows/${created.body.id}/executions`, {})).body.id);
        }
        const first = serve.url;
        await waitUntil(() => allWaiting(first, ids, ['approve', 'deadline']), 'every wait to start', 20_000);
        // Five are approved before the kill; the other fifteen after the restart.
        for (const [index, id] of ids.slice(0, 5).entries()) {
          const sent = await api(first, 'POST', `/executions/${id}/signals/go`, { data: { index } });
          assert.equal(sent.status, 202, sent.text);
          assert.equal(sent.body.consumed_by_step, 'approve');
        }
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        // Down for a while: the 8 s deadlines pass while no process runs, and fire after the restart.
        await new Promise((resolve) => setTimeout(resolve, 4000));
        serve = await startServe(serveEnv(database));
        const url = serve.url;
        for (const [offset, id] of ids.slice(5).entries()) {
          const index = offset + 5;
          const options = { key: ADMIN_KEY, body: { data: { index } }, headers: { 'idempotency-key': `go-${index}` } };
          const sent = await sendRequest(url, 'POST', `/executions/${id}/signals/go`, options);
          assert.equal(sent.status, 202, sent.text);
          // A client that retries after a lost answer gets the same signal, consumed once.
          const again = await sendRequest(url, 'POST', `/executions/${id}/signals/go`, options);
          assert.equal(again.body.id, sent.body.id);
        }
        await waitUntil(() => allCompleted(url, ids), 'every execution to complete', 30_000);
        for (const [index, id] of ids.entries()) {
          const steps = await stepsOf(url, id);
          assert.deepEqual(steps.get('approve')?.output, { index }, id);
          assert.equal(steps.get('approve')?.attempts, 1, id);
          assert.equal(steps.get('deadline')?.used_fallback, true, id);
          assert.deepEqual(steps.get('deadline')?.output, { timed_out: true }, id);
          const signals = await signalsOf(url, id);
          assert.deepEqual(
            signals.map((signal) => [signal.name, signal.consumed_by_step, signal.data]),
            [['go', 'approve', { index }]],
            id,
          );
        }
        const timeline = JSON.stringify((await api(url, 'GET', `/executions/${ids[0]}/timeline`)).body);
        assert.match(timeline, /SIGNAL_TIMEOUT/);
        assert.equal(await countByStatus(url, 'running'), 0, 'nothing stays running');
      } finally {
        await serve?.stop('SIGKILL');
        await database.drop();
      }
    });

    it(
      'lets another process deliver signals to waits that a SIGKILLed process started',
      postgresOnly(backend, 'several processes share PostgreSQL'),
      async () => {
        const database = await createTestDatabase(backend, { migrated: true });
        const processes: ServeProcess[] = [];
        try {
          processes.push(
            ...(await startServes(database, [
              serveEnv(database, { WEFT_NODE_ID: 'waits-a' }),
              serveEnv(database, { WEFT_NODE_ID: 'waits-b' }),
            ])),
          );
          const [a, b] = processes as [ServeProcess, ServeProcess];
          const created = await api(a.url, 'POST', '/workflows', {
            name: 'wait then work',
            steps: [
              { id: 'wait', type: 'wait_for_signal', input: { signal: 'go' } },
              { id: 'after', type: 'noop', depends_on: ['wait'], input: { got: '{{ steps.wait.output }}' } },
            ],
          });
          const ids: string[] = [];
          for (let index = 0; index < 10; index += 1)
            ids.push((await api(a.url, 'POST', `/workflows/${created.body.id}/executions`, {})).body.id);
          await waitUntil(() => allWaiting(b.url, ids, ['wait']), 'every wait to start', 20_000);
          assert.equal(await a.stop('SIGKILL'), 'SIGKILL');
          for (const [index, id] of ids.entries()) {
            const sent = await api(b.url, 'POST', `/executions/${id}/signals/go`, { data: index });
            assert.equal(sent.body.consumed_by_step, 'wait', sent.text);
          }
          await waitUntil(() => allCompleted(b.url, ids), 'every execution to complete on B', 20_000);
          for (const [index, id] of ids.entries()) {
            assert.deepEqual((await stepsOf(b.url, id)).get('after')?.output, { got: index });
          }
        } finally {
          for (const serve of processes) await serve.stop('SIGKILL');
          await database.drop();
        }
      },
    );

    it(
      'consumes each signal exactly once with two processes racing signals against waits',
      postgresOnly(backend, 'several processes share PostgreSQL'),
      async () => {
        const database = await createTestDatabase(backend, { migrated: true });
        const processes: ServeProcess[] = [];
        try {
          processes.push(
            ...(await startServes(database, [
              serveEnv(database, { WEFT_NODE_ID: 'signals-a' }),
              serveEnv(database, { WEFT_NODE_ID: 'signals-b' }),
            ])),
          );
          const [a, b] = processes as [ServeProcess, ServeProcess];
          const created = await api(a.url, 'POST', '/workflows', {
            name: 'two waiters',
            steps: [
              { id: 'first', type: 'wait_for_signal', input: { signal: 'item' } },
              { id: 'second', type: 'wait_for_signal', input: { signal: 'item' } },
            ],
          });
          assert.equal(created.status, 201, created.text);
          // Started on A; each execution's two signals go to A and B at once, right away, so
          // some race the waits starting and some race each other.
          const sends: Array<Promise<unknown>> = [];
          const ids: string[] = [];
          for (let index = 0; index < 40; index += 1) {
            const id = (await api(a.url, 'POST', `/workflows/${created.body.id}/executions`, {})).body.id as string;
            ids.push(id);
            for (const [n, target] of [a, b].entries()) {
              sends.push(
                api(target.url, 'POST', `/executions/${id}/signals/item`, { data: `${index}-${n}` }).then((sent) =>
                  assert.equal(sent.status, 202, sent.text),
                ),
              );
            }
          }
          await Promise.all(sends);
          await waitUntil(() => allCompleted(b.url, ids), 'every execution to complete', 30_000);
          for (const [index, id] of ids.entries()) {
            const steps = await stepsOf(b.url, id);
            const outputs = [steps.get('first')?.output, steps.get('second')?.output].sort();
            assert.deepEqual(outputs, [`${index}-0`, `${index}-1`], id);
            const signals = await signalsOf(a.url, id);
            assert.deepEqual(signals.map((signal) => signal.consumed_by_step).sort(), ['first', 'second'], id);
          }
        } finally {
          for (const serve of processes) await serve.stop('SIGKILL');
          await database.drop();
        }
      },
    );
  });
}
