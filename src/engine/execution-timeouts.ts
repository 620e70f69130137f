import type { Store } from '../store/store.js';
import type { CompiledWorkflow, WorkflowRef } from './compiled-workflow.js';
import { executionTimedOut } from './execution-error.js';
import { failExecution, SettleBatch } from './settle.js';
import { ENDS_FROM, type ExecutionStatus } from './states.js';

/**
 * Executions past their workflow `timeout_seconds` (the periodic sweep looks for them): each fails
 * with `EXECUTION_TIMEOUT`, saying after how long, and what it still runs is cancelled.
 */

/** Fails executions past their workflow timeout; returns their ids (to abort running handlers). */
export async function timeOutExecutions(
  store: Store,
  now: number,
  workflowOf: (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>,
): Promise<string[]> {
  const due = await store.executions.timedOut(now, 100);
  const ids: string[] = [];
  for (const candidate of due) {
    const timedOut = await store.transaction(async (tx) => {
      const execution = await tx.executions.getById(candidate.id, true);
      if (
        !execution ||
        !ENDS_FROM.includes(execution.status as ExecutionStatus) ||
        (execution.timeout_at ?? Infinity) > now
      )
        return false;
      const workflow = await workflowOf(execution, tx);
      const batch = new SettleBatch(tx, {
        owner: '',
        leaseMs: 0,
        capacity: 0,
        workflowOf: (row) => workflowOf(row, tx),
      });
      await failExecution(batch, execution, executionTimedOut(workflow.definition.timeout_seconds ?? undefined));
      await tx.executionLog.append(batch.events);
      await tx.notify('weft_cancel', execution.id);
      return true;
    });
    if (timedOut) ids.push(candidate.id);
  }
  return ids;
}
