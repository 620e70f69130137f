import { type FieldError, validationFailed, WeftError } from '../errors.js';
import type { ExecutionRow, ExecutionStepRow } from '../store/database-schema.js';
import type { Store } from '../store/store.js';
import {
  checkStartInput,
  IDEMPOTENCY_WINDOW_MS,
  insertExecutions,
  type PreparedExecution,
  prepareExecution,
  type StartExecution,
} from './start-execution.js';

/**
 * Many starts of one workflow at once (`POST /workflows/{id}/executions/batch`): the way a backfill
 * starts a thousand runs in one request and one commit. All or nothing: every input is checked
 * before anything is written, and one bad input refuses the batch with each failing path; then
 * every execution is inserted in one transaction.
 */

/** Most starts one batch may hold. */
export const MAX_BATCH_STARTS = 1000;

/** One start of a batch as answered: the execution, and its steps when they are as inserted. */
export interface BatchStarted {
  execution: ExecutionRow;
  /** True when an idempotency key returned an execution started before (this batch's or older). */
  replayed: boolean;
  /** The rows as inserted; undefined for a replay or a start that admission may have queued. */
  steps: ExecutionStepRow[] | undefined;
}

/** The 400 paths of one start's errors: under `/executions/{index}`. */
function underIndex(index: number, error: WeftError): FieldError[] {
  const errors = error.errors?.length ? error.errors : [{ path: '', message: error.message }];
  return errors.map((item) => ({ ...item, path: `/executions/${index}${item.path}` }));
}

/** Checks every start's input (all of them, so the 400 lists every failure); throws that 400. */
async function checkAll(requests: readonly StartExecution[]): Promise<PreparedExecution[]> {
  const outcomes = await Promise.all(
    requests.map(async (request, index) => {
      try {
        return { prepared: prepareExecution(await checkStartInput(request)) };
      } catch (error) {
        if (error instanceof WeftError && error.code === 'VALIDATION_FAILED')
          return { errors: underIndex(index, error) };
        throw error;
      }
    }),
  );
  const errors = outcomes.flatMap((outcome) => outcome.errors ?? []);
  if (errors.length > 0) throw validationFailed(errors);
  return outcomes.map((outcome) => outcome.prepared as PreparedExecution);
}

/**
 * Starts `requests` (of one workspace) in one transaction and answers them in order. A start
 * with an idempotency key seen within 24 hours, in this batch or before, answers the first
 * execution (`replayed`) and inserts nothing; a key that started another workflow refuses the
 * batch (409). Two batches racing with one key on PostgreSQL meet at the unique index: the loser
 * is tried once more, and then replays the winner's execution.
 */
export async function startMany(store: Store, requests: readonly StartExecution[]): Promise<BatchStarted[]> {
  const prepared = await checkAll(requests);
  try {
    return await insertAll(store, requests, prepared);
  } catch (error) {
    if (!store.isUniqueViolation(error)) throw error;
    return insertAll(store, requests, prepared);
  }
}

function insertAll(
  store: Store,
  requests: readonly StartExecution[],
  prepared: readonly PreparedExecution[],
): Promise<BatchStarted[]> {
  const windowStart = new Date(Date.now() - IDEMPOTENCY_WINDOW_MS).toISOString();
  return store.transaction(async (tx) => {
    const answered: BatchStarted[] = [];
    const fresh: PreparedExecution[] = [];
    const firstByKey = new Map<string, ExecutionRow>();
    for (const [index, entry] of prepared.entries()) {
      const request = requests[index] as StartExecution;
      const key = request.idempotencyKey;
      if (key !== undefined) {
        const first =
          firstByKey.get(key) ?? (await tx.executions.byIdempotencyKey(request.workspaceId, key, windowStart));
        if (first) {
          if (first.workflow_id !== (request.workflow?.id ?? null)) {
            throw new WeftError(
              'CONFLICT',
              `the idempotency key of /executions/${index} started execution '${first.id}' of another workflow within 24 hours; use a new key`,
            );
          }
          answered.push({ execution: first, replayed: true, steps: undefined });
          continue;
        }
        await tx.executions.releaseIdempotencyKey(request.workspaceId, key, windowStart);
        firstByKey.set(key, entry.execution);
      }
      fresh.push(entry);
      answered.push({
        execution: entry.execution,
        replayed: false,
        steps: entry.concurrency ? undefined : entry.steps,
      });
    }
    await insertExecutions(tx, fresh);
    return answered;
  });
}
