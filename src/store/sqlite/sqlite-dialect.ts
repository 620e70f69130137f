import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, type DatabaseConnection, type Driver, Kysely, SqliteDialect, SqliteDriver, sql } from 'kysely';
import { createPrivateFileSync, PRIVATE_DIRECTORY_MODE, restrictFilesSync } from '../../files/private-files.js';
import type { Database } from '../database-schema.js';
import { escapeLike, type StoreDialect } from '../store-dialect.js';
import { holdSqliteEngineLock } from './sqlite-engine-lock.js';

/** Options of the embedded SQLite backend. */
export interface SqliteOptions {
  /** Database file; `:memory:` for a throwaway database. */
  filename: string;
  /** `synchronous` pragma under WAL; see `WEFT_SQLITE_SYNCHRONOUS`. */
  synchronous: 'FULL' | 'NORMAL';
  /**
   * Called by the SQL function `weft_announce(channel)`, which triggers use to announce work (the
   * webhook outbox trigger of migration 0005). It runs mid-statement, before commit.
   */
  onAnnounce?: (channel: string) => void;
}

const UNAVAILABLE_MESSAGES = [
  'database connection is not open',
  'driver has already been destroyed',
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
  'SQLITE_BUSY',
  'SQLITE_FULL',
];

/**
 * Starts every transaction with BEGIN IMMEDIATE: it takes the write lock up front, so two
 * connections (say `weft migrate` beside a server) queue on busy_timeout instead of failing at
 * once with SQLITE_BUSY when a reading transaction tries to become a writing one.
 */
class ImmediateTransactionSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * Kysely prepares every query anew; preparing costs about as much as running a small statement.
 * The engine repeats the same few statements, so prepared statements are kept by their SQL text
 * (bounded; they are only ever run with `all`/`run`, never iterated concurrently).
 */
function withStatementCache(database: SqliteDatabase.Database, capacity = 500): SqliteDatabase.Database {
  const cache = new Map<string, SqliteDatabase.Statement>();
  const prepare = database.prepare.bind(database);
  return new Proxy(database, {
    get(target, property, receiver) {
      if (property !== 'prepare') {
        const value = Reflect.get(target, property, receiver);
        // Native methods need the real database as `this`, not the proxy.
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (source: string) => {
        let statement = cache.get(source);
        if (!statement) {
          statement = prepare(source);
          if (cache.size >= capacity) {
            const oldest = cache.keys().next().value;
            if (oldest !== undefined) cache.delete(oldest);
          }
          cache.set(source, statement);
        }
        return statement;
      };
    },
  });
}

class WeftSqliteDialect extends SqliteDialect {
  constructor(private readonly database: SqliteDatabase.Database) {
    super({ database });
  }

  override createDriver(): Driver {
    return new ImmediateTransactionSqliteDriver({ database: this.database });
  }
}

/**
 * Opens the SQLite file (creating its folder as 0700), in WAL mode with a busy timeout. The file
 * holds webhook signing secrets, so it is 0600 and so are its `-wal` and `-shm` companions (SQLite
 * creates those with the main file's mode; files of older versions are tightened here).
 */
export function createSqliteDialect(options: SqliteOptions): StoreDialect {
  const onDisk = options.filename !== ':memory:' && options.filename !== '';
  if (onDisk) {
    fs.mkdirSync(path.dirname(path.resolve(options.filename)), { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
    // An empty file is an empty database; created first, it is never readable by others.
    createPrivateFileSync(options.filename);
  }
  const database = new SqliteDatabase(options.filename);
  database.pragma('journal_mode = WAL');
  if (onDisk) restrictFilesSync(['', '-wal', '-shm'].map((suffix) => `${options.filename}${suffix}`));
  database.pragma(`synchronous = ${options.synchronous}`);
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  // Registered on every connection, listened to or not: a trigger calling it must never fail.
  database.function('weft_announce', { deterministic: false }, (channel: unknown) => {
    options.onAnnounce?.(String(channel));
    return null;
  });
  const db = new Kysely<Database>({ dialect: new WeftSqliteDialect(withStatementCache(database)) });
  return {
    name: 'sqlite',
    db,
    file: onDisk ? path.resolve(options.filename) : undefined,
    idType: 'text',
    containsIgnoringCase: (column, text) =>
      // SQLite's LIKE ignores ASCII case; lower() both sides for the rest of Unicode it knows.
      sql<boolean>`lower(${sql.ref(column)}) like lower(${`%${escapeLike(text)}%`}) escape '\\'`,
    jsonFieldEquals: (column, key, value) =>
      sql<boolean>`exists (select 1 from json_each(${sql.ref(column)}) where json_each.key = ${key} and json_each.value = ${value})`,
    isUniqueViolation: (error) =>
      ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY'].includes((error as { code?: string })?.code ?? ''),
    isUnavailableError: (error) => {
      const text = `${(error as { code?: string })?.code ?? ''} ${(error as Error)?.message ?? ''}`;
      return UNAVAILABLE_MESSAGES.some((fragment) => text.includes(fragment));
    },
    holdEngineLock: (_nodeId, whileAlone) =>
      holdSqliteEngineLock(onDisk ? options.filename : undefined, db, whileAlone),
    close: () => db.destroy(),
  };
}
