import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestDatabase, postgresOnly, testBackends } from './helpers/backends.js';
import { startFixtureServer, waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe, startServes } from './helpers/processes.js';
import { api, countByStatus, serveEnv } from './helpers/serve-restarts.js';

/**
 * Concurrency keys across real `weft serve` processes (SPEC §3.1): three processes on one
 * PostgreSQL never run more than `limit` executions of a key at once, and a process killed with
 * SIGKILL while executions wait for slots leaks no slot and admits nothing twice.
 */

/** A loopback upstream counting calls in flight per `key` (a call ends when answered or dropped). */
async function countingUpstream(holdMs: number, options: { hangFirst?: boolean } = {}) {
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const calls: string[] = [];
  const fixture = await startFixtureServer(async ({ path, raw }) => {
    const url = new URL(path, 'http://upstream');
    const key = url.searchParams.get('key') ?? '';
    calls.push(`${key}/${url.searchParams.get('n')}`);
    const now = (inFlight.get(key) ?? 0) + 1;
    inFlight.set(key, now);
    maxInFlight.set(key, Math.max(now, maxInFlight.get(key) ?? 0));
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      raw.socket.off('close', end);
      inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
    };
    // A caller killed mid-call drops its connection: its call is no longer in flight.
    raw.socket.once('close', end);
    if (options.hangFirst && calls.length === 1)
      await new Promise<void>((resolve) => raw.socket.once('close', resolve));
    else await new Promise((resolve) => setTimeout(resolve, holdMs));
    end();
    return { json: { ok: true } };
  });
  return { fixture, calls, maxInFlight };
}

const limited = (upstream: string, limit: number) => ({
  name: 'limited per customer',
  concurrency: { limit, key: '{{ input.customer }}' },
  steps: [
    {
      id: 'call',
      type: 'http',
      input: { url: `${upstream}/work?key={{ input.customer }}&n={{ input.n }}`, timeout_seconds: 600 },
    },
  ],
});

for (const backend of testBackends()) {
  describe(`concurrency keys across processes (${backend})`, () => {
    it(
      'three processes on one database run at most `limit` executions of a key at once',
      postgresOnly(backend, 'several processes share one database only on PostgreSQL'),
      async () => {
        const database = await createTestDatabase(backend, { migrated: true });
        // Calls long enough that two admitted executions of a key overlap at the upstream even on a loaded machine.
        const upstream = await countingUpstream(80);
        const serves: ServeProcess[] = [];
        try {
          const nodes = ['a', 'b', 'c'];
          serves.push(
            ...(await startServes(
              database,
              nodes.map((node) => serveEnv(database, { WEFT_NODE_ID: `slots-${node}` })),
            )),
          );
          const created = await api(serves[0]?.url ?? '', 'POST', '/workflows', limited(upstream.fixture.url, 2));
          assert.equal(created.status, 201, created.text);
          const customers = ['acme', 'globex', 'initech'];
          const starts = Array.from({ length: 150 }, (_, n) => {
            const serve = serves[n % serves.length] as ServeProcess;
            return api(serve.url, 'POST', `/workflows/${created.body.id}/executions`, {
              input: { customer: customers[n % customers.length], n },
            });
          });
          const answers = await Promise.all(starts);
          for (const answer of answers) assert.equal(answer.status, 202, answer.text);
          const url = serves[0]?.url ?? '';
          await waitUntil(
            async () => (await countByStatus(url, 'completed')) === 150,
            '150 completed executions',
            60_000,
          );
          assert.equal(await countByStatus(url, 'queued'), 0);
          assert.equal(upstream.calls.length, 150, 'each execution called once');
          assert.equal(new Set(upstream.calls).size, 150);
          for (const customer of customers) {
            assert.equal(
              upstream.maxInFlight.get(customer),
              2,
              `${customer}: at most 2 at once, and the limit was reached`,
            );
          }
          assert.ok(
            answers.filter((answer) => answer.body.status === 'queued').length >= 75,
            'most starts found their key full',
          );
        } finally {
          for (const serve of serves) await serve.stop('SIGKILL');
          await upstream.fixture.close();
          await database.drop();
        }
      },
    );

    it('a process killed while executions are queued leaks no slot and admits nothing twice', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      // The first call hangs until its caller dies: the kill lands while the key is full.
      const upstream = await countingUpstream(20, { hangFirst: true });
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(serveEnv(database));
        const created = await api(serve.url, 'POST', '/workflows', limited(upstream.fixture.url, 1));
        assert.equal(created.status, 201, created.text);
        const ids: string[] = [];
        for (let n = 0; n < 8; n += 1) {
          const started = await api(serve.url, 'POST', `/workflows/${created.body.id}/executions`, {
            input: { customer: 'acme', n },
          });
          assert.equal(started.status, 202, started.text);
          assert.equal(started.body.status, n === 0 ? 'running' : 'queued');
          ids.push(started.body.id);
        }
        await waitUntil(() => upstream.calls.length >= 1, 'the holder to call');
        assert.equal(await serve.stop('SIGKILL'), 'SIGKILL');
        serve = await startServe(serveEnv(database));
        const url = serve.url;
        await waitUntil(
          async () => (await countByStatus(url, 'completed')) === 8,
          'every execution to complete',
          40_000,
        );
        assert.equal(await countByStatus(url, 'queued'), 0);
        assert.equal(upstream.maxInFlight.get('acme'), 1, 'never two at once, across the kill');
        // The holder ran again after the kill (at least once); every queued one ran exactly once, in order.
        assert.deepEqual(upstream.calls, [
          'acme/0',
          'acme/0',
          'acme/1',
          'acme/2',
          'acme/3',
          'acme/4',
          'acme/5',
          'acme/6',
          'acme/7',
        ]);
        for (const id of ids) {
          const events = (await api(url, 'GET', `/executions/${id}/events?order=asc&limit=100`)).body.items;
          const started = events.filter((event: { type: string }) => event.type === 'workflow.started');
          assert.equal(started.length, 1, `execution ${id} was admitted once`);
        }
      } finally {
        await serve?.stop('SIGKILL');
        await upstream.fixture.close();
        await database.drop();
      }
    });
  });
}
