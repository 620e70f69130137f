import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ApiResponse, sendRequest } from './helpers/api-server.js';
import { createTestDatabase, testBackends } from './helpers/backends.js';
import { startFixtureServer, waitUntil } from './helpers/http-fixtures.js';
import { type ServeProcess, startServe } from './helpers/processes.js';

/**
 * What a person running `weft serve` sees at the default level (docs/logging.md): JSON lines when
 * stdout is not a terminal, pretty lines with WEFT_LOG_FORMAT=pretty; executions starting and
 * ending; the running step of a killed process taken back by the next one (its lease expired on
 * PostgreSQL, an earlier incarnation's on SQLite) and run again.
 */

const ADMIN_KEY = 'logs-test-admin-key-0123456789abcdef';

function api(url: string, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  return sendRequest(url, method, path, { key: ADMIN_KEY, body });
}

async function waitForStatus(url: string, id: string, status: string): Promise<void> {
  await waitUntil(
    async () => (await api(url, 'GET', `/executions/${id}`)).body.status === status,
    `${id} ${status}`,
    20_000,
  );
}

for (const backend of testBackends()) {
  describe(`weft serve's log (${backend})`, () => {
    it('prints JSON lines off a terminal and pretty lines when asked, the lease taken back from a killed process included', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      // The first call hangs (its process is killed meanwhile); the attempt run again is answered.
      let calls = 0;
      const target = await startFixtureServer(async ({ raw }) => {
        calls += 1;
        // Until its caller is killed: a timer left running would keep this file alive after its test.
        if (calls === 1) await new Promise((resolve) => raw.socket.once('close', resolve));
        return { json: { ok: true } };
      });
      const env = (extra: Record<string, string>) => ({
        WEFT_DATABASE_URL: database.config.databaseUrl,
        WEFT_DATA_DIR: database.config.dataDir,
        WEFT_ADMIN_KEY: ADMIN_KEY,
        WEFT_LEASE_MS: '1500',
        WEFT_POLL_INTERVAL_MS: '100',
        WEFT_LOG_LEVEL: 'info',
        WEFT_LOG_FORMAT: '',
        ...extra,
      });
      const serves: ServeProcess[] = [];
      try {
        // No WEFT_LOG_FORMAT and stdout a pipe: JSON lines.
        const first = await startServe(env({ WEFT_NODE_ID: 'logs-first' }));
        serves.push(first);
        const quick = (
          await api(first.url, 'POST', '/executions', {
            definition: { name: 'Quick', steps: [{ id: 'a', type: 'noop' }] },
          })
        ).body.id as string;
        await waitForStatus(first.url, quick, 'completed');
        const json = () =>
          first.output.text
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as Record<string, unknown>);
        await waitUntil(
          () => json().some((line) => line.msg === 'execution completed' && line.execution_id === quick),
          'the completed line',
        );
        const started = json().find((line) => line.msg === 'execution started' && line.execution_id === quick);
        assert.equal(started?.level, 30);
        const completed = json().find((line) => line.msg === 'execution completed' && line.execution_id === quick);
        assert.equal(completed?.status, 'completed');
        assert.equal(typeof completed?.duration_ms, 'number');

        const slow = (
          await api(first.url, 'POST', '/executions', {
            definition: {
              name: 'Slow',
              steps: [{ id: 'call', type: 'http', input: { url: `${target.url}/slow`, method: 'POST' } }],
            },
          })
        ).body.id as string;
        await waitUntil(() => calls === 1, 'the step to be running');
        assert.equal(await first.stop('SIGKILL'), 'SIGKILL');

        // Pretty lines: `HH:MM:SS.mmm LEVEL message key=value …`, no JSON.
        const second = await startServe(env({ WEFT_NODE_ID: 'logs-second', WEFT_LOG_FORMAT: 'pretty' }));
        serves.push(second);
        await waitForStatus(second.url, slow, 'completed');
        const ended = new RegExp(
          `^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  execution completed execution_id=${slow} .*status=completed duration_ms=\\d+`,
          'm',
        );
        await waitUntil(() => ended.test(second.output.text), 'the pretty completed line');
        // On PostgreSQL the lease of the other node's process expires; on SQLite the process
        // alone on the file takes back its predecessors' steps at once.
        const message =
          backend === 'postgres'
            ? 'WARN  lease expired; taking the step back'
            : 'WARN  taking back a step of an earlier incarnation';
        assert.match(
          second.output.text,
          new RegExp(
            `^\\S+ ${message} holder=engine owner=engine:logs-first:\\S+ execution_id=${slow} .*step_id=call attempt=1$`,
            'm',
          ),
        );
        assert.match(
          second.output.text,
          new RegExp(`INFO  step retrying execution_id=${slow} .*step_id=call attempt=1`, 'm'),
        );
        assert.equal(/^\{"level"/m.test(second.output.text), false, 'no JSON line');
      } finally {
        for (const serve of serves) await serve.stop('SIGKILL');
        await target.close();
        await database.drop();
      }
    });
  });
}
