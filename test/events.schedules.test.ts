import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ApiResponse, sendRequest, startTestServer } from './helpers/api-server.js';
import { createTestDatabase, postgresOnly, testBackends } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe, startServes } from './helpers/processes.js';

/**
 * Cron schedules (issue 5): seconds-level crons keep the tests short. Each fire starts one
 * execution — with two processes on one PostgreSQL database too — and a fire missed while no
 * process ran happens once at start, not once per missed slot.
 */

const ADMIN_KEY = 'schedules-test-admin-key-0123456789';

const everySecond = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  triggers: [{ cron: '* * * * * *', timezone: 'UTC', input: { from: 'cron' } }],
  steps: [{ id: 'tick', type: 'noop', input: { from: '{{ input.from }}' } }],
  ...extra,
});

interface ExecutionItem {
  id: string;
  trigger: { type: string; scheduled_for: string };
  input: { from: string };
}

async function executionsOf(url: string, key: string, workflowId: string): Promise<ExecutionItem[]> {
  const items: ExecutionItem[] = [];
  let cursor: string | null = null;
  do {
    const page: ApiResponse = await sendRequest(
      url,
      'GET',
      `/executions?workflow_id=${workflowId}&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
      { key },
    );
    items.push(...page.body.items);
    cursor = page.body.next_cursor;
  } while (cursor);
  return items;
}

for (const backend of testBackends()) {
  describe(`schedules (${backend})`, () => {
    it('fires a cron trigger once per slot, shows the next fire time, and stops when disabled', async () => {
      const server = await startTestServer(backend, { pollIntervalMs: 200 });
      try {
        const created = await server.request('POST', '/workflows', { body: everySecond('Every second') });
        assert.equal(created.status, 201, created.text);
        assert.ok(Date.parse(created.body.next_fire_at) > Date.now() - 1000, created.body.next_fire_at);
        const id = created.body.id;
        await waitUntil(async () => (await executionsOf(server.url, server.adminKey, id)).length >= 3, 'three fires');
        const fired = await executionsOf(server.url, server.adminKey, id);
        const slots = fired.map((execution) => execution.trigger.scheduled_for);
        assert.equal(new Set(slots).size, slots.length, `one execution per slot: ${slots.join(', ')}`);
        assert.ok(fired.every((execution) => execution.trigger.type === 'schedule'));
        assert.ok(fired.every((execution) => execution.input.from === 'cron'));

        const plain = await server.request('POST', '/workflows', {
          body: { name: 'No cron', steps: [{ id: 'a', type: 'noop' }] },
        });
        assert.equal(plain.body.next_fire_at, null);

        await server.request('PATCH', `/workflows/${id}`, { body: { enabled: false } });
        const disabled = await server.request('GET', `/workflows/${id}`);
        assert.equal(disabled.body.next_fire_at, null);
        const count = (await executionsOf(server.url, server.adminKey, id)).length;
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.equal((await executionsOf(server.url, server.adminKey, id)).length, count);
      } finally {
        await server.close();
      }
    });

    it('runs a fire missed while no process ran once at start, not once per missed slot', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      const env = {
        WEFT_DATABASE_URL: database.config.databaseUrl,
        WEFT_DATA_DIR: database.config.dataDir,
        WEFT_ADMIN_KEY: ADMIN_KEY,
        WEFT_POLL_INTERVAL_MS: '200',
      };
      let serve: ServeProcess | undefined;
      try {
        serve = await startServe(env);
        const hourly = {
          name: 'Hourly',
          triggers: [{ cron: '0 * * * *', timezone: 'Europe/Paris' }],
          steps: [{ id: 'a', type: 'noop' }],
        };
        const created = await sendRequest(serve.url, 'POST', '/workflows', { key: ADMIN_KEY, body: hourly });
        const id = created.body.id;
        await serve.stop();
        // Five hours of missed fires while no process ran.
        const missed = Date.now() - 5 * 3600_000;
        const store = database.open();
        // Cleared first: a replace keeps the fire time of an unchanged cron.
        await store.triggers.replace(created.body.workspace_id, id, { events: [], schedules: [] });
        await store.triggers.replace(created.body.workspace_id, id, {
          events: [],
          schedules: [{ index: 0, cron: '0 * * * *', timezone: 'Europe/Paris', nextFireAt: missed }],
        });
        await store.close();
        serve = await startServe(env);
        const url = serve.url;
        await waitUntil(async () => (await executionsOf(url, ADMIN_KEY, id)).length >= 1, 'the missed fire');
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const fired = await executionsOf(url, ADMIN_KEY, id);
        assert.equal(fired.length, 1);
        assert.equal(fired[0]?.trigger.scheduled_for, new Date(missed).toISOString());
        const workflow = await sendRequest(url, 'GET', `/workflows/${id}`, { key: ADMIN_KEY });
        assert.ok(Date.parse(workflow.body.next_fire_at) > Date.now(), 'the next fire is in the future');
      } finally {
        await serve?.stop();
        await database.drop();
      }
    });
    it(
      'fires each slot once with two processes on one PostgreSQL database',
      postgresOnly(backend, 'SQLite has one process'),
      async () => {
        const database = await createTestDatabase('postgres', { migrated: true });
        const env = {
          WEFT_DATABASE_URL: database.config.databaseUrl,
          WEFT_DATA_DIR: database.config.dataDir,
          WEFT_ADMIN_KEY: ADMIN_KEY,
          WEFT_POLL_INTERVAL_MS: '100',
        };
        const processes: ServeProcess[] = [];
        try {
          processes.push(...(await startServes(database, [env, env])));
          const url = processes[0]?.url ?? '';
          const created = await sendRequest(url, 'POST', '/workflows', { key: ADMIN_KEY, body: everySecond('Shared') });
          const id = created.body.id;
          await waitUntil(async () => (await executionsOf(url, ADMIN_KEY, id)).length >= 5, 'five fires', 15_000);
          await sendRequest(url, 'PATCH', `/workflows/${id}`, { key: ADMIN_KEY, body: { enabled: false } });
          const fired = await executionsOf(url, ADMIN_KEY, id);
          const slots = fired.map((execution) => execution.trigger.scheduled_for);
          assert.equal(new Set(slots).size, slots.length, `each slot fired once: ${slots.sort().join(', ')}`);
          const seconds = slots.map((slot) => Date.parse(slot) / 1000).sort((a, b) => a - b);
          assert.ok(
            seconds.every((second, index) => index === 0 || second - (seconds[index - 1] ?? 0) >= 1),
            'slots are distinct seconds',
          );
        } finally {
          for (const serve of processes) await serve.stop();
          await database.drop();
        }
      },
    );
  });
}
