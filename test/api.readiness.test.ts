import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertProblem, startTestServer } from './helpers/api-server.js';
import { adminQuery, testBackends } from './helpers/backends.js';

for (const backend of testBackends()) {
  describe(`readiness (${backend})`, () => {
    it('answers 503 while the database is gone, keeps the process alive, and recovers', async () => {
      const server = await startTestServer(backend);
      try {
        assert.equal((await server.request('GET', '!/readyz', { key: null })).status, 200);
        const name = server.database.databaseName;
        if (backend === 'postgres') {
          // A real outage: the server refuses new connections and drops the open ones.
          await adminQuery(`alter database ${name} allow_connections false`);
          await adminQuery(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name}'`);
        } else {
          await server.store.close();
        }
        const ready = await server.request('GET', '!/readyz', { key: null });
        assertProblem(ready, 503, 'DATABASE_UNAVAILABLE');
        assert.equal(ready.headers.get('retry-after'), '5');
        assertProblem(await server.request('GET', '/workflows'), 503, 'DATABASE_UNAVAILABLE');
        assert.deepEqual((await server.request('GET', '!/healthz', { key: null })).body, { status: 'ok' });
        if (backend === 'postgres') {
          await adminQuery(`alter database ${name} allow_connections true`);
          assert.equal((await server.request('GET', '!/readyz', { key: null })).status, 200);
          assert.equal((await server.request('GET', '/workflows')).status, 200);
        }
      } finally {
        await server.close();
      }
    });
  });
}
