import SqliteDatabase from 'better-sqlite3';
import { createPrivateFileSync } from '../../files/private-files.js';
import type { EngineLock, EngineLockScope } from '../store-dialect.js';

/**
 * The engine lock of a SQLite database: a companion file `<database>.engine-lock`, itself a
 * small SQLite database in rollback-journal mode, whose file locks say which engines live. Each
 * engine keeps a read transaction open on it (a shared lock); a starting engine first tries an
 * exclusive transaction without waiting, which succeeds only when no other engine holds its shared
 * lock, that is when every earlier engine of the file is dead. A killed process's locks are
 * released by the operating system.
 */

/** Engines of in-memory databases, which no other process can open: counted per database. */
const memoryEngines = new WeakMap<object, number>();

function isBusy(error: unknown): boolean {
  return String((error as { code?: string })?.code ?? '').startsWith('SQLITE_BUSY');
}

/** Takes the engine lock of the database at `filename` (`memoryKey` identifies an in-memory one). */
export async function holdSqliteEngineLock(
  filename: string | undefined,
  memoryKey: object,
  whileAlone: (scope: EngineLockScope) => Promise<void>,
): Promise<EngineLock> {
  if (filename === undefined) {
    const live = memoryEngines.get(memoryKey) ?? 0;
    memoryEngines.set(memoryKey, live + 1);
    if (live === 0) await whileAlone('database');
    let released = false;
    return {
      scope: 'database',
      wasAlone: live === 0,
      release: async () => {
        if (released) return;
        released = true;
        memoryEngines.set(memoryKey, Math.max(0, (memoryEngines.get(memoryKey) ?? 1) - 1));
      },
    };
  }
  const lockFile = `${filename}.engine-lock`;
  createPrivateFileSync(lockFile);
  const lock = new SqliteDatabase(lockFile);
  let wasAlone = false;
  try {
    lock.pragma('journal_mode = DELETE');
    lock.pragma('busy_timeout = 0');
    try {
      lock.exec('begin exclusive');
      wasAlone = true;
    } catch (error) {
      if (!isBusy(error)) throw error;
    }
    if (wasAlone) {
      try {
        await whileAlone('database');
      } finally {
        lock.exec('commit');
      }
    }
    // The shared lock every live engine holds: a read transaction kept open. Waits (briefly) while
    // a starting engine holds the exclusive lock for its recovery.
    lock.pragma('busy_timeout = 10000');
    lock.exec('begin');
    lock.prepare('select count(*) from sqlite_master').get();
  } catch (error) {
    lock.close();
    throw error;
  }
  return {
    scope: 'database',
    wasAlone,
    release: async () => {
      if (!lock.open) return;
      if (lock.inTransaction) lock.exec('rollback');
      lock.close();
    },
  };
}
