import type { Expression, Kysely, SqlBool } from 'kysely';
import type { Database } from './database-schema.js';

/**
 * What differs between the SQLite and PostgreSQL backends. Each backend folder implements this
 * with the same file names (`<backend>-dialect.ts`); everything else in `store/` is shared.
 */
export interface StoreDialect {
  /** Backend name, as shown by `/readyz` and in logs. */
  readonly name: 'sqlite' | 'postgres';
  /** The Kysely instance over this backend's driver. */
  readonly db: Kysely<Database>;
  /**
   * The SQLite database file (absolute), which other connections (the stats worker's) may open;
   * undefined for an in-memory SQLite database and for PostgreSQL.
   */
  readonly file?: string | undefined;
  /** SQL type for id columns: PostgreSQL compares them byte-wise so ULID order holds. */
  readonly idType: 'text' | 'text collate "C"';
  /** `column` contains `text`, ignoring case; `text` is matched literally (no wildcards). */
  containsIgnoringCase(column: string, text: string): Expression<SqlBool>;
  /** The JSON-object text column `column` has `key` set to the string `value`. */
  jsonFieldEquals(column: string, key: string, value: string): Expression<SqlBool>;
  /** True when the error is a violated unique constraint. */
  isUniqueViolation(error: unknown): boolean;
  /** True when the error means the database cannot be reached (answered with 503). */
  isUnavailableError(error: unknown): boolean;
  /**
   * Joins the engines of this database as `nodeId` (see `EngineLock`). When no other live engine
   * is in the lock's scope, `whileAlone` runs first, while the others are kept out: the leases of
   * earlier engines in the scope are then known dead and may be taken back at once.
   */
  holdEngineLock(nodeId: string, whileAlone: (scope: EngineLockScope) => Promise<void>): Promise<EngineLock>;
  /** The schema may have changed (migrations ran): cached statements are prepared again. */
  schemaChanged?(): void;
  /** Releases connections. */
  close(): Promise<void>;
}

/**
 * What an engine lock covers: on SQLite every engine of the database file (one machine), on
 * PostgreSQL the engines that share a `WEFT_NODE_ID`.
 */
export type EngineLockScope = 'database' | 'node';

/**
 * An engine's share of its scope's lock, held while it runs: every live engine holds a shared
 * lock, and an engine that starts takes the exclusive one first when it can, which it can only when
 * no other live engine of the scope exists. The operating system (SQLite's file lock) or the
 * database (a session advisory lock) releases it when the process dies, however it dies.
 */
export interface EngineLock {
  readonly scope: EngineLockScope;
  /** True when `whileAlone` ran: no other live engine of the scope existed at the start. */
  readonly wasAlone: boolean;
  release(): Promise<void>;
}

/** Escapes LIKE wildcards so user text matches literally (used with `ESCAPE '\'`). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/** Runs `work` in a transaction, or directly when `db` already is one (Kysely cannot nest them). */
export function inTransaction<T>(db: Kysely<Database>, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}
