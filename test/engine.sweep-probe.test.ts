import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { type FixtureServer, runAdhoc, startFixtureServer, waitUntil } from './helpers/http-fixtures.js';

/**
 * The engine's sweep asks what it has to do in one read (`store.sweep.probe`) and runs only the
 * repairs it says yes to, so a wrong answer would leave an expired lease, a passed timeout or a
 * queued execution alone. Each answer is checked here against the rows the repairs look for, at
 * the server's own clock and past it (the probe takes `now`, so a lease or a timeout can be asked
 * about an hour ahead without waiting an hour).
 */

const HOUR = 3_600_000;

for (const backend of testBackends()) {
  describe(`the sweep's probe (${backend})`, () => {
    let server: TestServer;
    let fixture: FixtureServer;
    const release: Array<() => void> = [];

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      // Steps and items calling /hang stay running (their leases renewed) until the test ends.
      fixture = await startFixtureServer(
        () => new Promise((resolve) => release.push(() => resolve({ json: { released: true } }))),
      );
    });
    after(async () => {
      for (const answer of release) answer();
      await server.close();
      await fixture.close();
    });

    const types = () => ['delay', 'http', 'noop'];

    it('says nothing is due on an empty store, and that no type an engine claims is due when it claims none', async () => {
      const work = await server.store.sweep.probe(Date.now() + HOUR, types());
      assert.deepEqual(work, {
        expiredLeases: false,
        timedOut: false,
        queued: false,
        stepsDueAt: undefined,
        itemsDueAt: undefined,
      });
    });

    it('finds leases and timeouts once they pass, queued executions, and when a delay is due', async () => {
      const started = Date.now();
      // A running step whose workflow times out in an hour; a for_each whose items run.
      await runAdhoc(server, {
        name: 'hanging',
        timeout_seconds: 3600,
        concurrency: { limit: 1, key: 'only-one' },
        steps: [
          { id: 'call', type: 'http', input: { url: `${fixture.url}/hang` } },
          { id: 'each', type: 'http', for_each: [1, 2], input: { url: `${fixture.url}/hang?i={{ item }}` } },
        ],
      });
      // Queued behind the first: same key, limit 1.
      await runAdhoc(server, {
        name: 'hanging',
        concurrency: { limit: 1, key: 'only-one' },
        steps: [{ id: 'a', type: 'noop' }],
      });
      // A delay of a minute: waiting, due in a minute.
      const sleeping = await runAdhoc(server, {
        name: 'sleeping',
        steps: [{ id: 'nap', type: 'delay', input: { seconds: 60 } }],
      });
      await waitUntil(async () => {
        const napping = (await server.request('GET', `/executions/${sleeping}`)).body.steps as Array<{
          status: string;
        }>;
        return release.length === 3 && napping.some((step) => step.status === 'waiting');
      }, 'a step and two items calling, a delay waiting');

      const now = await server.store.sweep.probe(Date.now(), types());
      assert.equal(now.expiredLeases, false, 'leases held and renewed');
      assert.equal(now.timedOut, false);
      assert.equal(now.queued, true, 'one execution waits for the key');
      assert.ok(
        now.stepsDueAt !== undefined && now.stepsDueAt >= started + 59_000 && now.stepsDueAt <= Date.now() + 60_000,
        `the delay is due in a minute: ${now.stepsDueAt}`,
      );
      assert.equal(now.itemsDueAt, undefined, 'both items are running');

      const later = await server.store.sweep.probe(Date.now() + HOUR + 60_000, types());
      assert.equal(later.expiredLeases, true, 'an hour on, the leases have expired');
      assert.equal(later.timedOut, true, 'and the workflow timeout has passed');

      const none = await server.store.sweep.probe(Date.now(), []);
      assert.equal(none.stepsDueAt, undefined, 'an engine that claims no type has nothing due');
      assert.equal(
        (await server.store.sweep.probe(Date.now(), ['noop'])).stepsDueAt,
        undefined,
        'nor one that claims no delay',
      );
    });
  });
}
