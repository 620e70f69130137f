import type { EngineLock, EngineLockScope } from '../store-dialect.js';
import { loadPg } from './pg-module.js';

/**
 * The engine lock of a `WEFT_NODE_ID` on PostgreSQL: a session advisory lock on a dedicated
 * connection. Each engine holds it shared; a starting engine first tries it exclusive, which
 * succeeds only when no live engine uses the same node id, so the leases of that id's earlier
 * incarnations are known dead. The server releases it when the connection ends, however the
 * process died.
 */
export async function holdPostgresEngineLock(
  connectionString: string,
  nodeId: string,
  onError: (error: Error) => void,
  whileAlone: (scope: EngineLockScope) => Promise<void>,
): Promise<EngineLock> {
  const client = new (loadPg().Client)({ connectionString, connectionTimeoutMillis: 5000 });
  // A lost connection drops the lock; the engine keeps running (it only matters at a start).
  client.on('error', onError);
  await client.connect();
  const key = `weft-engine-node:${nodeId}`;
  let wasAlone = false;
  try {
    const tried = await client.query<{ locked: boolean }>(
      'select pg_try_advisory_lock(hashtextextended($1, 0)) as locked',
      [key],
    );
    wasAlone = tried.rows[0]?.locked === true;
    if (wasAlone) {
      try {
        await whileAlone('node');
      } finally {
        // Shared taken before the exclusive is let go: no moment without this engine's share.
        await client.query('select pg_advisory_lock_shared(hashtextextended($1, 0))', [key]);
        await client.query('select pg_advisory_unlock(hashtextextended($1, 0))', [key]);
      }
    } else {
      await client.query('select pg_advisory_lock_shared(hashtextextended($1, 0))', [key]);
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  let released = false;
  return {
    scope: 'node',
    wasAlone,
    release: async () => {
      if (released) return;
      released = true;
      await client.end().catch(onError);
    },
  };
}
