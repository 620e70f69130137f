import type { WorkflowDefinition } from '../src/definition/definition-schema.js';
import type { Backend } from '../test/helpers/backends.js';
import { chain, startBenchEngine } from './engine-shapes.js';
import { endedExecutions } from './flow-shapes.js';

/**
 * Concurrency keys (issue 11), with the durability of the engine shapes: 1,000 executions of a
 * 3-step `noop` chain over 10 keys, all started at once through the engine's start path, timed to
 * the last end; once with `concurrency {limit: 5, key}` (so at most 50 run and the rest queue and
 * are admitted as slots free) and once without the block. The difference per execution is the
 * cost of admission: counting the key at start, queueing, and admitting in the freeing transaction.
 */

/** One measured concurrency shape. */
export interface ConcurrencyShapeResult {
  shape: string;
  executions: number;
  totalMs: number;
  detail: string;
}

async function runMany(backend: Backend, definition: WorkflowDefinition, count: number, keys: number) {
  const { store, engine, workspaceId, close } = await startBenchEngine(backend);
  try {
    const workflow = await store.workflows.create(workspaceId, definition);
    const started = Date.now();
    const executions = await Promise.all(
      Array.from({ length: count }, (_, index) =>
        engine.startExecution({
          workspaceId: workspaceId,
          workflow: { id: workflow.id, version: workflow.version, definition },
          adhocDefinition: undefined,
          input: { customer: `customer-${index % keys}` },
          start: true,
          labels: {},
          reference: null,
          webhookUrl: null,
          trigger: null,
        }),
      ),
    );
    const queued = executions.filter((execution) => execution.status === 'queued').length;
    engine.wake();
    let ended = await endedExecutions(store);
    while (ended.ended < count || ended.last === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      ended = await endedExecutions(store);
    }
    const failed = await store.executions.list(workspaceId, { status: 'failed' }, { limit: 1 });
    if (failed.items.length > 0) throw new Error(`concurrency shape: one failed: ${failed.items[0]?.error}`);
    return { totalMs: ended.last - started, queued };
  } finally {
    await close();
  }
}

/** The concurrency shapes on one backend: with and without a concurrency block. */
export async function benchConcurrencyShapes(backend: Backend): Promise<ConcurrencyShapeResult[]> {
  const count = 1000;
  const keys = 10;
  const plain = chain(3, 'bench unlimited');
  const limited: WorkflowDefinition = {
    ...chain(3, 'bench limited'),
    concurrency: { limit: Number(process.env.BENCH_LIMIT ?? 5), key: '{{ input.customer }}' },
  };
  const without = await runMany(backend, plain, count, keys);
  const within = await runMany(backend, limited, count, keys);
  const overheadMs = (within.totalMs - without.totalMs) / count;
  const percent = ((within.totalMs / without.totalMs - 1) * 100).toFixed(1);
  return [
    {
      shape: `${count} x 3-step chain, no concurrency block`,
      executions: count,
      totalMs: without.totalMs,
      detail: `${Math.round((count / without.totalMs) * 1000)} executions/s`,
    },
    {
      shape: `${count} x 3-step chain, ${keys} keys, limit 5`,
      executions: count,
      totalMs: within.totalMs,
      detail: `${Math.round((count / within.totalMs) * 1000)} executions/s, ${within.queued} queued at start, admission ${overheadMs.toFixed(3)} ms/execution (${percent}% vs none)`,
    },
  ];
}
