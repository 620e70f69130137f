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
  /** SQL type for id columns: PostgreSQL compares them byte-wise so ULID order holds. */
  readonly idType: 'text' | 'text collate "C"';
  /** `column` contains `text`, ignoring case; `text` is matched literally (no wildcards). */
  containsIgnoringCase(column: string, text: string): Expression<SqlBool>;
  /** The JSON-object text column `column` has `key` set to the string `value`. */
  jsonFieldEquals(column: string, key: string, value: string): Expression<SqlBool>;
  /** Milliseconds from the ISO 8601 text column `from` to `to` (a number; null when either is). */
  millisBetween(from: string, to: string): Expression<number | null>;
  /** True when the error is a violated unique constraint. */
  isUniqueViolation(error: unknown): boolean;
  /** True when the error means the database cannot be reached (answered with 503). */
  isUnavailableError(error: unknown): boolean;
  /** Releases connections. */
  close(): Promise<void>;
}

/** Escapes LIKE wildcards so user text matches literally (used with `ESCAPE '\'`). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/** Runs `work` in a transaction, or directly when `db` already is one (Kysely cannot nest them). */
export function inTransaction<T>(db: Kysely<Database>, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}
