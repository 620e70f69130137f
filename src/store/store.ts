import type { Kysely } from 'kysely';
import { Migrator, sql } from 'kysely';
import { isPostgresUrl, type WeftConfig } from '../config.js';
import type { Database } from './database-schema.js';
import { migrationProvider } from './migrations/index.js';
import { LocalNotifier, type Notifier, type NotifyChannel } from './notifier.js';
import { createPostgresDialect } from './postgres/postgres-dialect.js';
import { PostgresNotifier } from './postgres/postgres-notifier.js';
import { ApiKeyRepository } from './repositories/api-key-repository.js';
import { ExecutionLogRepository } from './repositories/execution-log-repository.js';
import { ExecutionRepository } from './repositories/execution-repository.js';
import { StepRepository } from './repositories/step-repository.js';
import { TaskTypeRepository } from './repositories/task-type-repository.js';
import { WorkflowRepository } from './repositories/workflow-repository.js';
import { WorkspaceRepository } from './repositories/workspace-repository.js';
import { createSqliteDialect } from './sqlite/sqlite-dialect.js';
import type { StoreDialect } from './store-dialect.js';

/**
 * The store: the only owner of database connections and transactions. Everything else reaches
 * the database through its repositories; nothing outside `store/` imports a driver.
 */
export class Store {
  readonly workspaces: WorkspaceRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly workflows: WorkflowRepository;
  readonly executions: ExecutionRepository;
  readonly steps: StepRepository;
  readonly executionLog: ExecutionLogRepository;
  readonly taskTypes: TaskTypeRepository;

  constructor(
    private readonly dialect: StoreDialect,
    /** Announcements between processes (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite). */
    readonly notifier: Notifier,
    private readonly db: Kysely<Database> = dialect.db,
    /** In a transaction on SQLite: announcements held until it commits (dropped on rollback). */
    private readonly pending?: Array<[NotifyChannel, string]>,
  ) {
    this.workspaces = new WorkspaceRepository(db, dialect);
    this.apiKeys = new ApiKeyRepository(db);
    this.workflows = new WorkflowRepository(db, dialect);
    this.executions = new ExecutionRepository(db, dialect);
    this.steps = new StepRepository(db, dialect);
    // PostgreSQL announces appended events itself (a trigger, at commit); SQLite through here.
    this.executionLog = new ExecutionLogRepository(
      db,
      notifier instanceof LocalNotifier ? (payload) => void this.notify('weft_events', payload) : undefined,
    );
    this.taskTypes = new TaskTypeRepository(db);
  }

  /** `sqlite` or `postgres`. */
  get backend(): StoreDialect['name'] {
    return this.dialect.name;
  }

  /** Runs `work` in one transaction; the repositories of the store it receives share it. */
  async transaction<T>(work: (store: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    const pending: Array<[NotifyChannel, string]> = [];
    const result = await this.db
      .transaction()
      .execute((trx) => work(new Store(this.dialect, this.notifier, trx, pending)));
    if (this.notifier instanceof LocalNotifier)
      for (const [channel, payload] of pending) this.notifier.emit(channel, payload);
    return result;
  }

  /**
   * Announces work on a channel. Inside a transaction it is delivered at commit (PostgreSQL
   * NOTIFY; on SQLite the store holds it until then), to every listening process, this one
   * included; never for a transaction that rolls back.
   */
  async notify(channel: NotifyChannel, payload = ''): Promise<void> {
    if (this.notifier instanceof LocalNotifier) {
      if (this.pending) this.pending.push([channel, payload]);
      else this.notifier.emit(channel, payload);
      return;
    }
    await sql`select pg_notify(${channel}, ${payload})`.execute(this.db);
  }

  /** Applies pending migrations; returns the names applied now. */
  async migrate(): Promise<string[]> {
    const migrator = new Migrator({
      db: this.db,
      provider: migrationProvider({
        idType: this.dialect.idType,
        bigintType: this.dialect.name === 'postgres' ? 'bigint' : 'integer',
        backend: this.dialect.name,
      }),
      migrationTableName: 'weft_migration',
      migrationLockTableName: 'weft_migration_lock',
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw error;
    return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
  }

  /** Fails unless the database answers a trivial query. */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  /** True when the error means the database is unreachable. */
  isUnavailableError(error: unknown): boolean {
    return this.dialect.isUnavailableError(error);
  }

  /** Closes every connection. */
  close(): Promise<void> {
    return this.dialect.close();
  }
}

/** Opens the store the configuration names (SQLite file or PostgreSQL URL); does not migrate. */
export function openStore(
  config: Pick<WeftConfig, 'databaseUrl' | 'sqliteSynchronous' | 'pgSynchronousCommit' | 'pgPoolSize'>,
  onBackgroundError: (error: Error) => void,
): Store {
  if (isPostgresUrl(config.databaseUrl)) {
    return new Store(
      createPostgresDialect({
        connectionString: config.databaseUrl,
        poolSize: config.pgPoolSize,
        synchronousCommit: config.pgSynchronousCommit,
        onIdleConnectionError: onBackgroundError,
      }),
      new PostgresNotifier(config.databaseUrl, onBackgroundError),
    );
  }
  const filename = config.databaseUrl.replace(/^sqlite:(\/\/)?/i, '');
  return new Store(createSqliteDialect({ filename, synchronous: config.sqliteSynchronous }), new LocalNotifier());
}
