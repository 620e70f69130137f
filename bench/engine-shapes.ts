import { sql } from 'kysely';
import pino from 'pino';
import type { WorkflowDefinition } from '../src/definition/definition-schema.js';
import { Engine } from '../src/engine/engine.js';
import { adhocStartRequest } from '../src/engine/lifecycle.js';
import { openStore, type Store } from '../src/store/store.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';
import { type Backend, createTestDatabase } from '../test/helpers/backends.js';

/**
 * Engine shapes of issue 3, with no-op steps, on a fresh database each: a chain of 200 steps, one
 * root with 500 parallel children and a join, and 200 concurrent executions of a 5-step chain.
 */

export interface ShapeResult {
  shape: string;
  steps: number;
  totalMs: number;
}

export const chain = (length: number, name: string): WorkflowDefinition => ({
  name,
  steps: Array.from({ length }, (_, index) => ({
    id: `s${index}`,
    type: 'noop',
    ...(index > 0 ? { depends_on: [`s${index - 1}`] } : {}),
  })),
});

const fanOut = (width: number): WorkflowDefinition => ({
  name: 'fan-out',
  steps: [
    { id: 'root', type: 'noop' },
    ...Array.from({ length: width }, (_, index) => ({ id: `c${index}`, type: 'noop', depends_on: ['root'] })),
    { id: 'join', type: 'noop', depends_on: Array.from({ length: width }, (_, index) => `c${index}`) },
  ],
});

/**
 * Waits for every execution to finish and returns when the last one did (its `completed_at`).
 * It polls slowly so that the measuring does not compete with the engine for the two cores.
 */
async function waitForAll(store: Store, count: number): Promise<number> {
  for (;;) {
    const row = await sql<{ done: number; last: string | null }>`
      select count(*) as done, max(completed_at) as last from executions where status in ('completed', 'failed')`.execute(
      // biome-ignore lint/suspicious/noExplicitAny: the bench reads the store's Kysely instance directly for one count.
      (store as any).db,
    );
    const result = row.rows[0];
    if (Number(result?.done) >= count && result?.last) return new Date(result.last).getTime();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** An engine on a fresh database at the default durability, with a workspace, for one shape. */
export interface BenchEngine {
  store: Store;
  engine: Engine;
  workspaceId: string;
  /** Stops the engine, closes the store and drops the database. */
  close(): Promise<void>;
}

/** Starts a BenchEngine on `backend` (SQLite `synchronous` as given, PostgreSQL `synchronous_commit=on`). */
export async function startBenchEngine(
  backend: Backend,
  synchronous: 'FULL' | 'NORMAL' = 'FULL',
): Promise<BenchEngine> {
  const database = await createTestDatabase(backend);
  const config = {
    ...database.config,
    sqliteSynchronous: synchronous,
    pgSynchronousCommit: 'on' as const,
    pgPoolSize: 10,
  };
  const store = openStore(config, (error) => process.stderr.write(`database: ${error.message}\n`));
  await store.migrate();
  const workspace = await store.workspaces.create({ slug: 'bench', name: 'Bench' });
  const engine = new Engine({
    store,
    taskTypes: new TaskTypeRegistry(),
    logger: pino({ level: 'warn' }),
    config: { llmBaseUrl: undefined, llmApiKey: undefined },
  });
  await engine.start();
  return {
    store,
    engine,
    workspaceId: workspace.id,
    async close() {
      await engine.stop(1000);
      await store.close();
      await database.drop();
    },
  };
}

export async function runShape(
  backend: Backend,
  shape: string,
  definitions: WorkflowDefinition[],
  synchronous: 'FULL' | 'NORMAL',
): Promise<ShapeResult> {
  const { store, engine, workspaceId, close } = await startBenchEngine(backend, synchronous);
  try {
    const started = Date.now();
    await Promise.all(
      definitions.map((definition) => engine.startExecution(adhocStartRequest(workspaceId, definition))),
    );
    const created = Date.now();
    engine.wake();
    const totalMs = (await waitForAll(store, definitions.length)) - started;
    process.stderr.write(
      `  ${backend} ${shape}: creating the executions took ${created - started} ms of ${totalMs} ms\n`,
    );
    const failed = await store.executions.list(workspaceId, { status: 'failed' }, { limit: 1 });
    if (failed.items.length > 0) throw new Error(`${shape}: an execution failed: ${failed.items[0]?.error}`);
    return { shape, steps: definitions.reduce((sum, definition) => sum + definition.steps.length, 0), totalMs };
  } finally {
    await close();
  }
}

/** Runs the three engine shapes on a backend. */
export async function benchEngineShapes(
  backend: Backend,
  synchronous: 'FULL' | 'NORMAL' = 'FULL',
): Promise<ShapeResult[]> {
  return [
    await runShape(backend, 'chain of 200', [chain(200, 'chain')], synchronous),
    await runShape(backend, 'fan-out 500 + join', [fanOut(500)], synchronous),
    await runShape(
      backend,
      '200 executions x 5-step chain',
      Array.from({ length: 200 }, (_, index) => chain(5, `chain ${index}`)),
      synchronous,
    ),
  ];
}
