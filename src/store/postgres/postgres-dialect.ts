import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Database } from '../database-schema.js';
import { escapeLike, type StoreDialect } from '../store-dialect.js';
import { loadPg } from './pg-module.js';
import { holdPostgresEngineLock } from './postgres-engine-lock.js';
import { PreparedStatements, preparingPool } from './prepared-statements.js';

/** Options of the PostgreSQL backend. */
export interface PostgresOptions {
  connectionString: string;
  poolSize: number;
  /** `synchronous_commit` for Weft's sessions; see `WEFT_PG_SYNCHRONOUS_COMMIT`. */
  synchronousCommit: string;
  /** Whether repeated statements are prepared (WEFT_PG_PREPARED_STATEMENTS, prepared-statements.ts). */
  preparedStatements: boolean;
  /** Receives errors of idle pooled connections (a restarted server, a network cut). */
  onIdleConnectionError: (error: Error) => void;
}

/** SQLSTATE classes and codes that mean "the database is not there", not "the query is wrong". */
const UNAVAILABLE_SQLSTATES = [
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '3D000',
  '55000',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
];
const UNAVAILABLE_ERRNOS = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH'];
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Cannot use a pool after calling end',
  'driver has already been destroyed',
];

/** Connects a pool to PostgreSQL. Connections are opened lazily. */
export function createPostgresDialect(options: PostgresOptions): StoreDialect {
  const pool = new (loadPg().Pool)({
    connectionString: options.connectionString,
    max: options.poolSize,
    connectionTimeoutMillis: 5000,
    options: `-c synchronous_commit=${options.synchronousCommit}`,
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener the
  // process would crash. It is reported; the next query gets a fresh client.
  pool.on('error', options.onIdleConnectionError);
  // A client checked out of the pool emits 'error' on itself when its server goes away; without a
  // listener that would crash the process. Its running query rejects as well, so the error is
  // handled where the query was made; here it is only reported.
  pool.on('connect', (client) => client.on('error', options.onIdleConnectionError));
  const statements = new PreparedStatements();
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: options.preparedStatements ? preparingPool(pool, statements) : pool }),
  });
  return {
    name: 'postgres',
    db,
    idType: 'text collate "C"',
    containsIgnoringCase: (column, text) =>
      sql<boolean>`${sql.ref(column)} ilike ${`%${escapeLike(text)}%`} escape '\\'`,
    // Containment, which the labels' GIN index (migration 0017) answers; the values are strings,
    // so it is the same test as `->> key = value`.
    jsonFieldEquals: (column, key, value) =>
      sql<boolean>`${sql.ref(column)}::jsonb @> jsonb_build_object(${key}::text, ${value}::text)`,
    isUniqueViolation: (error) => (error as { code?: string })?.code === '23505',
    isUnavailableError: (error) => {
      const failure = error as { code?: string; message?: string } | undefined;
      const code = failure?.code ?? '';
      const message = failure?.message ?? '';
      return (
        UNAVAILABLE_SQLSTATES.includes(code) ||
        UNAVAILABLE_ERRNOS.includes(code) ||
        UNAVAILABLE_MESSAGES.some((fragment) => message.includes(fragment))
      );
    },
    holdEngineLock: (nodeId, whileAlone) =>
      holdPostgresEngineLock(options.connectionString, nodeId, options.onIdleConnectionError, whileAlone),
    schemaChanged: () => statements.schemaChanged(),
    close: () => db.destroy(),
  };
}
