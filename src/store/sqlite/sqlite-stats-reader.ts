import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { workerModuleUrl } from '../../package-files.js';
import type { AttemptSummary, ExecutionSummary, StatsFilter, StatsReads } from '../repositories/stats-repository.js';
import type { StatsTask, StatsTaskResult } from './sqlite-stats-worker.js';

/**
 * The stats aggregates of a SQLite file, off the event loop. better-sqlite3 is synchronous, and at
 * 30,000 executions one metrics answer scans for 0.4–1.2 s; on the store's connection that holds
 * every request that long. Here each read runs in a worker thread (piscina) on the worker's own
 * read-only connection to the same file: WAL lets it read beside the writer, and it sees what was
 * committed, as a read on the store's connection outside a transaction would.
 */

/** Worker threads: one core is left to the event loop (so one on a 2-core machine), at most 4. */
export const STATS_WORKER_THREADS = Math.max(1, Math.min(4, availableParallelism() - 1));

/** An idle worker exits after this long (and closes its connection); the next read starts one. */
const IDLE_TIMEOUT_MS = 60_000;

/** What a read after `close` throws: the store's outage wording, so a request gets a 503. */
const closedError = () => new Error('database connection is not open (the store is closed)');

/** `StatsReads` of a SQLite database file, computed in worker threads. */
export class SqliteStatsReader implements StatsReads {
  private pool: Piscina | undefined;
  private closed = false;

  /** `filename`: the database file (absolute; a worker cannot open `:memory:`). */
  constructor(private readonly filename: string) {}

  executionSummary(workspaceId: string, filter: StatsFilter): Promise<ExecutionSummary> {
    return this.run('executionSummary', [workspaceId, filter]) as Promise<ExecutionSummary>;
  }

  attemptSummary(workspaceId: string, workflowId: string, since: string | undefined): Promise<AttemptSummary> {
    return this.run('attemptSummary', [workspaceId, workflowId, since]) as Promise<AttemptSummary>;
  }

  stepBacklog(now: number): Promise<Array<{ type: string; state: string; count: number }>> {
    return this.run('stepBacklog', [now]) as Promise<Array<{ type: string; state: string; count: number }>>;
  }

  /** Stops the workers (their connections close with them); reads after this fail. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  private async run(method: StatsTask['method'], args: unknown[]): Promise<unknown> {
    const task: StatsTask = { filename: this.filename, method, args };
    let result: StatsTaskResult;
    try {
      result = (await this.workers().run(task)) as StatsTaskResult;
    } catch (error) {
      // A read still running when the store closes is ended with its worker: the database is gone.
      if (this.closed) throw closedError();
      throw error;
    }
    if (result.ok) return result.value;
    // The worker's error as the store's connection would have thrown it (so SQLITE_BUSY is a 503).
    throw Object.assign(new Error(result.message), { name: result.name, code: result.code });
  }

  private workers(): Piscina {
    if (this.closed) throw closedError();
    this.pool ??= new Piscina({
      filename: workerModuleUrl('store/sqlite/sqlite-stats-worker'),
      minThreads: 0,
      maxThreads: STATS_WORKER_THREADS,
      idleTimeout: IDLE_TIMEOUT_MS,
    });
    return this.pool;
  }
}
