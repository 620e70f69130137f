import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from '../database-schema.js';
import { type StatsReads, StatsRepository } from '../repositories/stats-repository.js';

/**
 * The stats worker (piscina calls the default export; see sqlite-stats-reader.ts): runs one
 * `StatsRepository` read on this thread's own read-only connection to the database file.
 */

/** One read: which method, with which arguments, on which database file. */
export interface StatsTask {
  filename: string;
  method: keyof StatsReads;
  args: unknown[];
}

/** What comes back: the method's result (structured clone keeps its Maps), or its error. */
export type StatsTaskResult =
  | { ok: true; value: unknown }
  // Structured clone keeps an error's message but drops `code`, which tells a busy or missing
  // database (503) from a bug; so the error travels as plain fields.
  | { ok: false; name: string; message: string; code: string | undefined };

/** Bytes of the database file a stats worker maps (address space; pages are the OS cache's). */
const STATS_MMAP_BYTES = 256 * 1024 * 1024;

/** One connection per database file, kept for the thread's life (a worker serves one store). */
const repositories = new Map<string, StatsRepository>();

function repositoryFor(filename: string): StatsRepository {
  let repository = repositories.get(filename);
  if (!repository) {
    const database = new SqliteDatabase(filename, { fileMustExist: true });
    // WAL lets this connection read beside the server's writer; it must never write.
    database.pragma('query_only = ON');
    database.pragma('busy_timeout = 5000');
    // Aggregates read most of the file's index pages each time: mapped, they are read in place
    // from the OS page cache instead of copied through SQLite's 2 MB page cache on every read.
    database.pragma(`mmap_size = ${STATS_MMAP_BYTES}`);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
    repository = new StatsRepository(db, 'sqlite');
    repositories.set(filename, repository);
  }
  return repository;
}

/** Runs `task` (the worker's entry point). */
export default async function runStatsTask(task: StatsTask): Promise<StatsTaskResult> {
  try {
    const repository = repositoryFor(task.filename);
    const read = repository[task.method] as (...args: unknown[]) => Promise<unknown>;
    return { ok: true, value: await read.apply(repository, task.args) };
  } catch (error) {
    const failure = error as { name?: string; message?: string; code?: unknown };
    return {
      ok: false,
      name: failure.name ?? 'Error',
      message: failure.message ?? String(error),
      code: typeof failure.code === 'string' ? failure.code : undefined,
    };
  }
}
