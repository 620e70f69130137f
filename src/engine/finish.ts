import { cancelChildren, wakeParentStep } from '../children/child-workflows.js';
import { slotFreed } from '../concurrency/admission.js';
import { renderValue, type TemplateContext } from '../definition/render.js';
import { nowIso } from '../ids.js';
import { cancelUnsettledItems } from '../items/item-attempts.js';
import type { ExecutionRow } from '../store/database-schema.js';
import type { Store } from '../store/store.js';
import { NonRetryableError, type StepError } from '../tasks/task-outcomes.js';
import type { CompiledWorkflow } from './compiled-workflow.js';
import { type ExecutionError, executionError, stepFailed } from './execution-error.js';
import { workerOfOwner } from './external-tasks.js';
import { bytesOverCap, DEFAULT_MAX_OUTPUT_BYTES, outputTooLarge } from './output-cap.js';
import type { SettleBatch } from './settle.js';
import { ENDS_FROM } from './states.js';
import { contextOf } from './step-context.js';

/**
 * Ending executions inside a settle transaction: completed (with the rendered `output`), failed
 * (a failed step, an output that cannot render or is over WEFT_MAX_OUTPUT_BYTES, or a failure
 * that cancels what is left).
 */

/**
 * `finishExecution` for many executions: one query finds those with failed steps, and those
 * without an `output` template complete in one statement; the rest go one by one.
 */
export async function finishExecutions(
  batch: SettleBatch,
  finished: Array<{ execution: ExecutionRow; workflow: CompiledWorkflow }>,
): Promise<void> {
  if (finished.length === 0) return;
  const failed = await batch.tx.steps.executionsWithFailedSteps(finished.map(({ execution }) => execution.id));
  const simple: ExecutionRow[] = [];
  for (const entry of finished) {
    if (failed.has(entry.execution.id) || entry.workflow.definition.output !== undefined) {
      await finishExecution(batch, entry.execution, entry.workflow);
    } else {
      simple.push(entry.execution);
    }
  }
  if (simple.length === 0) return;
  const at = nowIso();
  const completed = await batch.tx.executions.completeMany(
    simple.map((execution) => execution.id),
    at,
  );
  for (const execution of simple) {
    if (!completed.has(execution.id)) continue;
    Object.assign(execution, { status: 'completed', output: 'null', completed_at: at, steps_unsettled: 0 });
    await slotFreed(batch.tx, execution);
    // A child settles its parent's step here too, as endExecution does (src/children/).
    if (await wakeParentStep(batch.tx, execution)) batch.result.queuedElsewhere += 1;
    batch.event(execution, 'workflow.completed', { status: 'completed', output: null });
  }
}

/** Ends an execution whose steps have all settled: completed, or failed when a step failed. */
export async function finishExecution(
  batch: SettleBatch,
  execution: ExecutionRow,
  workflow: CompiledWorkflow,
): Promise<void> {
  const { tx } = batch;
  const counts = await tx.steps.countByStatus(execution.id);
  const at = nowIso();
  if ((counts.failed ?? 0) > 0) {
    const failed = (await tx.steps.list(execution.id)).find((step) => step.status === 'failed');
    const cause = failed?.error ? (JSON.parse(failed.error) as StepError) : null;
    const error = stepFailed(failed?.step_id ?? '', failed?.attempts, cause);
    await endExecution(batch, execution, 'failed', { error: JSON.stringify(error), completed_at: at });
    return;
  }
  let output: unknown = null;
  try {
    const context: TemplateContext = await contextOf(tx, execution, workflow.outputReads);
    output = workflow.definition.output === undefined ? null : await renderValue(workflow.definition.output, context);
  } catch (error) {
    // An expression limit keeps its code (EXPRESSION_LIMIT), as it does in a step's error.
    const code = error instanceof NonRetryableError && error.code !== undefined ? error.code : 'OUTPUT_INVALID';
    const failure = executionError(code, `the workflow output could not be rendered: ${(error as Error).message}`);
    await endExecution(batch, execution, 'failed', { error: JSON.stringify(failure), completed_at: at });
    return;
  }
  const text = JSON.stringify(output);
  const cap = batch.env.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const bytes = bytesOverCap(text, cap);
  if (bytes !== undefined) {
    const { message } = outputTooLarge('execution output', bytes, cap, execution.id);
    const error = executionError('OUTPUT_TOO_LARGE', message, { details: { bytes, max_bytes: cap } });
    await endExecution(batch, execution, 'failed', { error: JSON.stringify(error), completed_at: at });
    return;
  }
  await endExecution(batch, execution, 'completed', { output: text, completed_at: at });
}

async function endExecution(
  batch: SettleBatch,
  execution: ExecutionRow,
  status: 'completed' | 'failed' | 'cancelled',
  patch: Partial<ExecutionRow>,
): Promise<void> {
  const changed = await batch.tx.executions.update(
    execution.id,
    { ...patch, status, steps_unsettled: 0, updated_at: nowIso() },
    ENDS_FROM,
  );
  if (!changed) return;
  Object.assign(execution, patch, { status, steps_unsettled: 0 });
  // Its concurrency slot goes to the oldest queued execution of its key (src/concurrency/).
  await slotFreed(batch.tx, execution);
  // A child that ends settles its parent's step (src/children/).
  if (await wakeParentStep(batch.tx, execution)) batch.result.queuedElsewhere += 1;
  const data: Record<string, unknown> = { status };
  if (patch.output !== undefined) data.output = patch.output === null ? null : JSON.parse(patch.output);
  if (patch.error) data.error = JSON.parse(patch.error);
  batch.event(execution, `workflow.${status}`, data);
}

/** Fails an execution now with `error`: cancels what has not settled, including steps running anywhere. */
export async function failExecution(batch: SettleBatch, execution: ExecutionRow, error: ExecutionError): Promise<void> {
  const at = nowIso();
  const running = await cancelUnsettledSteps(batch.tx, execution.id, at, `cancelled: ${error.message}`);
  if (running.length > 0) batch.result.aborted.push({ executionId: execution.id, stepIds: running });
  await endExecution(batch, execution, 'failed', { error: JSON.stringify(error), completed_at: at });
}

/**
 * Cancels the unsettled steps of an ending execution (it failed, timed out or was cancelled). An
 * attempt under way then ends as `cancelled` at `at`, recorded now: its handler's late outcome is
 * refused by the status guard, so without this the timeline would lose it; so does an item
 * attempt under way. Returns the ids of the steps that were running, or had items running (their
 * handlers are aborted after commit).
 */
export async function cancelUnsettledSteps(tx: Store, executionId: string, at: string, reason: string) {
  // Children first (they are locked before the steps that wait on them; src/children/).
  await cancelChildren(tx, executionId, at);
  const { running, underway } = await tx.steps.cancelUnsettled(executionId, at);
  // Items of `for_each` steps too (their attempts under way recorded as cancelled); steps with
  // items running have their handlers aborted.
  const itemSteps = await cancelUnsettledItems(tx, executionId, at, reason);
  const error = JSON.stringify({ message: reason, retryable: false });
  await tx.executionLog.recordAttempts(
    underway.map((step) => ({
      execution_id: step.execution_id,
      step_id: step.step_id,
      attempt: step.attempts,
      workspace_id: step.workspace_id,
      type: step.attempt_type,
      status: 'cancelled',
      used_fallback: step.used_fallback,
      error,
      worker: step.lease_owner === null ? null : workerOfOwner(step.lease_owner),
      queued_at: step.queued_at,
      started_at: step.started_at,
      ended_at: at,
    })),
  );
  return [...running, ...itemSteps];
}
