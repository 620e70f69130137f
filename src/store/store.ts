import type { Kysely } from 'kysely';
import { Migrator, sql } from 'kysely';
import { ArtifactRepository } from '../artifacts/artifact-repository.js';
import { ConcurrencyRepository } from '../concurrency/concurrency-repository.js';
import { isPostgresUrl, type WeftConfig } from '../config.js';
import { ItemAttemptRepository } from '../items/item-attempts.js';
import { ItemLeaseRepository } from '../items/item-lease-repository.js';
import { ItemRepository } from '../items/item-repository.js';
import { SignalRepository } from '../signals/signal-repository.js';
import { WorkerRepository } from '../workers/worker-repository.js';
import type { Database } from './database-schema.js';
import { migrationProvider } from './migrations/index.js';
import { LocalNotifier, type Notifier, type NotifyChannel } from './notifier.js';
import { createPostgresDialect } from './postgres/postgres-dialect.js';
import { PostgresNotifier } from './postgres/postgres-notifier.js';
import { ApiKeyRepository } from './repositories/api-key-repository.js';
import { EventRepository } from './repositories/event-repository.js';
import {
  type CommitNote,
  type CommitObserver,
  type CommittedLog,
  ExecutionLogRepository,
} from './repositories/execution-log-repository.js';
import { ExecutionRepository } from './repositories/execution-repository.js';
import { LeaseRepository } from './repositories/lease-repository.js';
import { OneStatementSettleRepository } from './repositories/one-statement-settle-repository.js';
import { SecretRepository } from './repositories/secret-repository.js';
import { SettleCounterRepository } from './repositories/settle-counter-repository.js';
import { type StatsReads, StatsRepository } from './repositories/stats-repository.js';
import { StepRepository } from './repositories/step-repository.js';
import { SweepRepository } from './repositories/sweep-repository.js';
import { TaskTypeRepository } from './repositories/task-type-repository.js';
import { TriggerRepository } from './repositories/trigger-repository.js';
import { WebhookDeliveryRepository } from './repositories/webhook-delivery-repository.js';
import { WebhookRepository } from './repositories/webhook-repository.js';
import { WorkflowRepository } from './repositories/workflow-repository.js';
import { WorkspaceRepository } from './repositories/workspace-repository.js';
import { createSqliteDialect } from './sqlite/sqlite-dialect.js';
import { SqliteStatsReader } from './sqlite/sqlite-stats-reader.js';
import type { EngineLock, EngineLockScope, StoreDialect } from './store-dialect.js';

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
  readonly leases: LeaseRepository;
  /** What the engine's periodic sweep has to do, in one read. */
  readonly sweep: SweepRepository;
  readonly executionLog: ExecutionLogRepository;
  readonly taskTypes: TaskTypeRepository;
  readonly webhooks: WebhookRepository;
  readonly webhookDeliveries: WebhookDeliveryRepository;
  readonly events: EventRepository;
  readonly triggers: TriggerRepository;
  /**
   * Aggregates. For a SQLite file they run in worker threads on their own connections (they scan
   * for up to a second, and better-sqlite3 would hold the event loop meanwhile); in a transaction
   * and on PostgreSQL (asynchronous already) or in-memory SQLite, on this store's connection.
   */
  readonly stats: StatsReads;
  /** The stats workers this store started (root store of a SQLite file only), stopped by `close`. */
  private readonly statsWorkers: SqliteStatsReader | undefined;
  readonly secrets: SecretRepository;
  /** Items of `for_each` steps (src/items/). */
  readonly items: ItemRepository;
  /** Attempts of those items, for the timeline (src/items/). */
  readonly itemAttempts: ItemAttemptRepository;
  /** Leases of those items, for recovery (src/items/). */
  readonly itemLeases: ItemLeaseRepository;
  /** Signals posted to executions (src/signals/). */
  readonly signals: SignalRepository;
  /** Concurrency keys' slots and queues (src/concurrency/). */
  readonly concurrency: ConcurrencyRepository;
  /** Which artifacts executions have (src/artifacts/); their bytes are in the artifact storage. */
  readonly artifacts: ArtifactRepository;
  /** Workers seen polling, and the queue depth of the types they serve (src/workers/). */
  readonly workers: WorkerRepository;
  /** The dependents' and executions' counters a settle moves, together. */
  readonly settleCounters: SettleCounterRepository;
  /** The settle of completed steps in one statement (PostgreSQL, outside a transaction only). */
  readonly oneStatementSettle: OneStatementSettleRepository | undefined;

  constructor(
    private readonly dialect: StoreDialect,
    /** Announcements between processes (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite). */
    readonly notifier: Notifier,
    private readonly db: Kysely<Database> = dialect.db,
    /** In a transaction on SQLite: announcements held until it commits (dropped on rollback). */
    private readonly pending?: Array<[NotifyChannel, string]>,
    /** Observers of committed execution-log writes (metrics), shared with the store's transactions. */
    private readonly observers: Set<CommitObserver> = new Set(),
    /** In a transaction: its execution-log writes, handed to `observers` once it commits. */
    private readonly written?: CommittedLog,
    /** In a transaction: work registered with `beforeCommit`, by id. */
    private readonly commitHooks?: Map<string, (tx: Store) => Promise<void>>,
  ) {
    this.workspaces = new WorkspaceRepository(db, dialect);
    this.apiKeys = new ApiKeyRepository(db);
    this.workflows = new WorkflowRepository(db, dialect);
    this.executions = new ExecutionRepository(db, dialect);
    this.steps = new StepRepository(db, dialect);
    this.settleCounters = new SettleCounterRepository(db, dialect, this.steps, this.executions);
    this.oneStatementSettle =
      dialect.name === 'postgres' && !db.isTransaction
        ? new OneStatementSettleRepository(db, (log) => this.logged(log))
        : undefined;
    this.leases = new LeaseRepository(db);
    this.sweep = new SweepRepository(db);
    // PostgreSQL announces appended events itself (a trigger, at commit); SQLite through here.
    this.executionLog = new ExecutionLogRepository(
      db,
      notifier instanceof LocalNotifier ? (payload) => void this.notify('weft_events', payload) : undefined,
      (log) => this.logged(log),
      dialect.name === 'postgres',
    );
    this.taskTypes = new TaskTypeRepository(db);
    this.webhooks = new WebhookRepository(db);
    this.webhookDeliveries = new WebhookDeliveryRepository(db, dialect);
    this.events = new EventRepository(db);
    this.triggers = new TriggerRepository(db, dialect);
    this.statsWorkers =
      dialect.file !== undefined && !db.isTransaction ? new SqliteStatsReader(dialect.file) : undefined;
    this.stats = this.statsWorkers ?? new StatsRepository(db, dialect.name);
    this.secrets = new SecretRepository(db);
    this.items = new ItemRepository(db, dialect);
    this.itemAttempts = new ItemAttemptRepository(db);
    this.itemLeases = new ItemLeaseRepository(db);
    this.signals = new SignalRepository(db, dialect);
    this.concurrency = new ConcurrencyRepository(db, dialect);
    this.artifacts = new ArtifactRepository(db);
    this.workers = new WorkerRepository(db);
  }

  /** `sqlite` or `postgres`. */
  get backend(): StoreDialect['name'] {
    return this.dialect.name;
  }

  /** Runs `work` in one transaction; the repositories of the store it receives share it. */
  async transaction<T>(work: (store: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    const pending: Array<[NotifyChannel, string]> = [];
    const written: CommittedLog = { events: [], attempts: [] };
    const hooks = new Map<string, (tx: Store) => Promise<void>>();
    const result = await this.db.transaction().execute(async (trx) => {
      const tx = new Store(this.dialect, this.notifier, trx, pending, this.observers, written, hooks);
      const value = await work(tx);
      await runCommitHooks(tx, hooks);
      return value;
    });
    if (this.notifier instanceof LocalNotifier)
      for (const [channel, payload] of pending) this.notifier.emit(channel, payload);
    if (written.events.length > 0 || written.attempts.length > 0 || written.notes !== undefined)
      for (const observe of this.observers) observe(written);
    return result;
  }

  /**
   * Registers work to run at the end of this transaction, before it commits, once per `id` however
   * often it is registered (a later registration of an id replaces the earlier). Hooks run in id
   * order, so two transactions take the locks hooks take in one order. Outside a transaction the
   * work runs at once in its own.
   */
  async beforeCommit(id: string, work: (tx: Store) => Promise<void>): Promise<void> {
    if (!this.commitHooks) {
      await this.transaction(work);
      return;
    }
    this.commitHooks.set(id, work);
  }

  /**
   * Calls `observer` after each commit that appended execution events, recorded attempts or was
   * given notes (`note`), in this process only, with what it wrote (metrics count from it and the
   * process log reads it, without a query). Observers must not throw. Returns the unsubscribe.
   */
  observeCommits(observer: CommitObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /**
   * Tells the commit observers `note` with this transaction's rows once it commits (never for a
   * rollback); outside a transaction at once. Costs nothing without observers.
   */
  note(note: CommitNote): void {
    this.logged({ events: [], attempts: [], notes: [note] });
  }

  /** Collects log writes: for the commit inside a transaction, at once outside one (autocommit). */
  private logged(log: CommittedLog): void {
    if (this.observers.size === 0) return;
    if (!this.written) {
      for (const observe of this.observers) observe(log);
      return;
    }
    for (const event of log.events) this.written.events.push(event);
    for (const attempt of log.attempts) this.written.attempts.push(attempt);
    if (log.notes) {
      if (!this.written.notes) this.written.notes = [];
      for (const note of log.notes) this.written.notes.push(note);
    }
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

  /**
   * Applies pending migrations (up to and including `until`, a name of `MIGRATION_NAMES`, when
   * given: tests of a migration start from the schema before it); returns the names applied now.
   */
  async migrate(until?: string): Promise<string[]> {
    const migrator = new Migrator({
      db: this.db,
      provider: migrationProvider({
        idType: this.dialect.idType,
        bigintType: this.dialect.name === 'postgres' ? 'bigint' : 'integer',
        backend: this.dialect.name,
      }),
      migrationTableName: 'weft_migration',
      migrationLockTableName: 'weft_migration_lock',
      // The names are `NNNN-words` in ASCII: code-unit order is theirs. Kysely's default,
      // `localeCompare`, set up ICU's collator on every start, about 15 ms of its CPU.
      nameComparator: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
    });
    const { error, results } = await (until === undefined ? migrator.migrateToLatest() : migrator.migrateTo(until));
    // Statements prepared against the old schema are not used again (prepared-statements.ts).
    this.dialect.schemaChanged?.();
    if (error) throw error;
    return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
  }

  /** Fails unless the database answers a trivial query. */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  /** True when the error is a unique-constraint violation. */
  isUniqueViolation(error: unknown): boolean {
    return this.dialect.isUniqueViolation(error);
  }

  /** True when the error means the database is unreachable. */
  isUnavailableError(error: unknown): boolean {
    return this.dialect.isUnavailableError(error);
  }

  /** Takes this engine's share of the engine lock (see `StoreDialect.holdEngineLock`). */
  holdEngineLock(nodeId: string, whileAlone: (scope: EngineLockScope) => Promise<void>): Promise<EngineLock> {
    return this.dialect.holdEngineLock(nodeId, whileAlone);
  }

  /** Closes every connection (the stats workers' too). */
  async close(): Promise<void> {
    await this.statsWorkers?.close();
    await this.dialect.close();
  }
}

/** Runs the hooks registered with `beforeCommit`, and those they register, until none is left. */
async function runCommitHooks(tx: Store, hooks: Map<string, (tx: Store) => Promise<void>>): Promise<void> {
  while (hooks.size > 0) {
    const ids = [...hooks.keys()].sort();
    const id = ids[0] as string;
    const work = hooks.get(id) as (tx: Store) => Promise<void>;
    hooks.delete(id);
    await work(tx);
  }
}

/** Opens the store the configuration names (SQLite file or PostgreSQL URL); does not migrate. */
export function openStore(
  config: Pick<WeftConfig, 'databaseUrl' | 'sqliteSynchronous' | 'pgSynchronousCommit' | 'pgPoolSize'> &
    Partial<Pick<WeftConfig, 'pgPreparedStatements'>>,
  onBackgroundError: (error: Error) => void,
): Store {
  if (isPostgresUrl(config.databaseUrl)) {
    return new Store(
      createPostgresDialect({
        connectionString: config.databaseUrl,
        poolSize: config.pgPoolSize,
        synchronousCommit: config.pgSynchronousCommit,
        preparedStatements: config.pgPreparedStatements ?? true,
        onIdleConnectionError: onBackgroundError,
      }),
      new PostgresNotifier(config.databaseUrl, onBackgroundError),
    );
  }
  const filename = config.databaseUrl.replace(/^sqlite:(\/\/)?/i, '');
  const notifier = new LocalNotifier();
  // A trigger's announcement comes mid-transaction; a listener's query then waits for the one
  // connection until the transaction ends, so it sees the commit (or finds nothing after a rollback).
  const onAnnounce = (channel: string) => notifier.emit(channel as NotifyChannel, '');
  return new Store(createSqliteDialect({ filename, synchronous: config.sqliteSynchronous, onAnnounce }), notifier);
}
