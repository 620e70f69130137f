import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestServer } from './helpers/api-server.js';
import { adminQuery, postgresOnly, testBackends } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';
import { openStream } from './helpers/stream-client.js';

/**
 * A stream never silently misses events: when the PostgreSQL connection that carries them drops,
 * open streams close with 1012 so clients reconnect and get a fresh snapshot.
 */
for (const backend of testBackends()) {
  describe(`stream gaps (${backend})`, () => {
    it(
      'closes streams with 1012 when the announcement connection is lost',
      postgresOnly(backend, 'SQLite announces in-process'),
      async () => {
        const server = await startTestServer(backend);
        try {
          const stream = await openStream(server.url, '/stream', server.adminKey);
          await stream.waitFor((message) => message.type === 'stream.snapshot', 'the snapshot');
          const database = server.database.databaseName ?? '';
          await waitUntil(
            async () => {
              await adminQuery(
                `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${database}' and query ilike 'listen weft_events%'`,
              );
              return stream.closed !== undefined;
            },
            'the stream to close',
            15_000,
          );
          assert.equal(stream.closed?.code, 1012);
          // A new stream works once the bus has reconnected.
          const again = await openStream(server.url, '/stream', server.adminKey);
          await again.waitFor((message) => message.type === 'stream.snapshot', 'a fresh snapshot');
          await again.close();
        } finally {
          await server.close();
        }
      },
    );
  });
}
