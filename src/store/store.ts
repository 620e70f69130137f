import type { Kysely } from 'kysely';
import { Migrator, sql } from 'kysely';
import { isPostgresUrl, type WeftConfig } from '../config.js';
import type { Database } from './database-schema.js';
import { migrationProvider } from './migrations/index.js';
import { createPostgresDialect } from './postgres/postgres-dialect.js';
import { ApiKeyRepository } from './repositories/api-key-repository.js';
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

  constructor(
    private readonly dialect: StoreDialect,
    private readonly db: Kysely<Database> = dialect.db,
  ) {
    this.workspaces = new WorkspaceRepository(db, dialect);
    this.apiKeys = new ApiKeyRepository(db);
    this.workflows = new WorkflowRepository(db, dialect);
  }

  /** `sqlite` or `postgres`. */
  get backend(): StoreDialect['name'] {
    return this.dialect.name;
  }

  /** Runs `work` in one transaction; the repositories of the store it receives share it. */
  transaction<T>(work: (store: Store) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    return this.db.transaction().execute((trx) => work(new Store(this.dialect, trx)));
  }

  /** Applies pending migrations; returns the names applied now. */
  async migrate(): Promise<string[]> {
    const migrator = new Migrator({
      db: this.db,
      provider: migrationProvider({ idType: this.dialect.idType }),
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
    );
  }
  const filename = config.databaseUrl.replace(/^sqlite:(\/\/)?/i, '');
  return new Store(createSqliteDialect({ filename, synchronous: config.sqliteSynchronous }));
}
