import { holdsSlot, slotFreed } from '../concurrency/admission.js';
import { executionEnded } from '../engine/engine-log.js';
import { readExecutionError } from '../engine/execution-error.js';
import { cancelUnsettledSteps } from '../engine/finish.js';
import { jsonText } from '../engine/json-text.js';
import { checkStartInput, insertExecutions, prepareExecution } from '../engine/lifecycle.js';
import type { SettleBatch, StepOutcome } from '../engine/settle.js';
import { WeftError } from '../errors.js';
import { nowIso } from '../ids.js';
import type { ItemRecord } from '../items/item-settle.js';
import type { ExecutionRow } from '../store/database-schema.js';
import type { ClaimedStep } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import type { StepError } from '../tasks/task-outcomes.js';

/**
 * The `workflow` step type (SPEC §3.1): a step whose attempt is a child execution.
 *
 * - The runner renders the step's input as for any step and returns a `child` outcome; the settle
 *   transaction that records the attempt then creates the child and moves the step from `running`
 *   to `waiting` together, guarded by the attempt's lease. A crash before that commit loses the
 *   attempt (it runs again, as any lost attempt); after it, the child exists and the step waits:
 *   one child per attempt, never two.
 * - A waiting step holds no lease and no worker slot (`run_at` is null, so no claim takes it).
 * - The transaction that ends the child makes the parent's step due; the parent's engine claims it
 *   like a fired timer and settles it from the child: completed with its output, or a failed,
 *   retryable attempt (retry starts a new child; fallback applies).
 * - An ending parent (cancelled, failed, timed out) cancels its unended children, and theirs,
 *   children locked before the parent's steps so a child ending at the same time cannot deadlock.
 */

/** The task type this module runs. */
export const WORKFLOW_TASK_TYPE = 'workflow';

/** Default of WEFT_MAX_WORKFLOW_DEPTH: how deep children may nest under a top-level execution. */
export const DEFAULT_MAX_WORKFLOW_DEPTH = 10;

/** The `child` outcome of a `workflow` attempt: the child to start, settled by `startChildAttempt`. */
export interface ChildRequest {
  kind: 'child';
  /** The step input as rendered (and recorded). */
  input: unknown;
  workflowId: string;
  version: number | undefined;
  childInput: unknown;
}

/** Reads a rendered `workflow` input into a child request, or the error that fails the attempt. */
export function childRequestOf(input: unknown): ChildRequest | StepError {
  const fields = (input !== null && typeof input === 'object' && !Array.isArray(input) ? input : {}) as Record<
    string,
    unknown
  >;
  const { workflow_id: workflowId, version } = fields;
  if (typeof workflowId !== 'string' || workflowId === '') {
    return {
      message: `workflow: workflow_id must be a non-empty string, got ${JSON.stringify(workflowId ?? null)}`,
      retryable: false,
    };
  }
  if (version !== undefined && version !== null && !(Number.isInteger(version) && (version as number) >= 1)) {
    return {
      message: `workflow: version must be an integer of at least 1, got ${JSON.stringify(version)}`,
      retryable: false,
    };
  }
  return {
    kind: 'child',
    input,
    workflowId,
    version: typeof version === 'number' ? version : undefined,
    childInput: fields.input === undefined ? {} : fields.input,
  };
}

/** What the settle of a `child` outcome needs from its batch. */
export interface ChildSettleContext {
  batch: SettleBatch;
  execution: ExecutionRow;
  step: ClaimedStep;
  request: ChildRequest;
  /** WEFT_MAX_WORKFLOW_DEPTH. */
  maxDepth: number;
  /** Fails the attempt (retry and fallback as for any failure; `retryable: false` skips retries). */
  fail: (error: StepError) => Promise<void>;
}

/**
 * Settles a `child` outcome inside the settle transaction: checks the child workflow and depth,
 * creates the child execution and parks the step `waiting` on it, or fails the attempt naming why.
 */
export async function startChildAttempt(context: ChildSettleContext): Promise<void> {
  const { batch, execution, step, request, maxDepth, fail } = context;
  const prepared = await prepareChild(batch.tx, execution, step.step_id, null, request, maxDepth);
  if ('message' in prepared) return fail(prepared);
  const parked = await batch.tx.steps.update(
    step.execution_id,
    step.step_id,
    {
      status: 'waiting',
      run_at: null,
      input: jsonText(request.input),
      child_execution_id: prepared.execution.id,
      lease_owner: null,
      lease_expires_at: null,
    },
    { statuses: ['running'], owner: batch.env.owner, attempt: step.attempts },
  );
  // Lost the lease meanwhile: the attempt is someone else's now, and so is its child.
  if (!parked) return;
  await insertExecutions(batch.tx, [prepared]);
  batch.event(
    execution,
    'step.waiting',
    { status: 'waiting', attempt: step.attempts, child_execution_id: prepared.execution.id },
    step.step_id,
  );
}

/**
 * The same for an item of a `for_each` step (a child per item): the item waits on its child,
 * which names the item (`parent_item_index`). False when the item's guard refused it.
 */
export async function startItemChild(
  record: ItemRecord,
  request: ChildRequest,
  fail: (error: StepError) => Promise<boolean>,
): Promise<boolean> {
  const { batch, execution, item } = record;
  const maxDepth = batch.env.maxWorkflowDepth ?? DEFAULT_MAX_WORKFLOW_DEPTH;
  const prepared = await prepareChild(batch.tx, execution, item.step_id, item.item_index, request, maxDepth);
  if ('message' in prepared) return fail(prepared);
  const parked = await batch.tx.items.update(
    { executionId: item.execution_id, stepId: item.step_id, index: item.item_index },
    {
      status: 'waiting',
      run_at: null,
      input: jsonText(request.input),
      child_execution_id: prepared.execution.id,
      lease_owner: null,
      lease_expires_at: null,
    },
    { statuses: ['running'], owner: batch.env.owner, attempt: item.attempts },
  );
  if (!parked) return false;
  await insertExecutions(batch.tx, [prepared]);
  record.event('step.waiting', { status: 'waiting', child_execution_id: prepared.execution.id });
  return true;
}

/** The child execution of an attempt, ready to insert, or the error that fails the attempt. */
async function prepareChild(
  tx: Store,
  execution: ExecutionRow,
  stepId: string,
  itemIndex: number | null,
  request: ChildRequest,
  maxDepth: number,
): Promise<ReturnType<typeof prepareExecution> | StepError> {
  const depth = (execution.workflow_depth ?? 0) + 1;
  if (depth > maxDepth) {
    return {
      message: `workflow: child workflow '${request.workflowId}' would nest ${depth} levels deep, beyond WEFT_MAX_WORKFLOW_DEPTH (${maxDepth})`,
      retryable: false,
    };
  }
  const workflow = await tx.workflows.get(execution.workspace_id, request.workflowId, {
    version: request.version,
    includeDeleted: true,
  });
  const why =
    workflow === undefined
      ? request.version === undefined
        ? 'does not exist'
        : `has no version ${request.version}`
      : workflow.deleted_at !== null
        ? 'was deleted'
        : !workflow.enabled
          ? 'is disabled'
          : undefined;
  if (why !== undefined || workflow === undefined) {
    return { message: `workflow: child workflow '${request.workflowId}' ${why}`, retryable: false };
  }
  const definition = await tx.workflows.versionDefinition(workflow.id, workflow.version);
  if (definition === undefined) {
    return {
      message: `workflow: child workflow '${request.workflowId}' has no version ${workflow.version}`,
      retryable: false,
    };
  }
  let prepared: ReturnType<typeof prepareExecution>;
  try {
    const trigger = { type: 'workflow', execution_id: execution.id, step_id: stepId };
    const checked = await checkStartInput({
      workspaceId: execution.workspace_id,
      workflow: { id: workflow.id, version: workflow.version, definition },
      adhocDefinition: undefined,
      input: request.childInput,
      start: true,
      labels: {},
      reference: null,
      webhookUrl: null,
      trigger: JSON.stringify(itemIndex === null ? trigger : { ...trigger, index: itemIndex }),
    });
    prepared = prepareExecution(checked);
  } catch (error) {
    if (!(error instanceof WeftError)) throw error;
    const details = error.errors === undefined ? undefined : { errors: error.errors };
    return {
      message: `workflow: child workflow '${request.workflowId}' refused the input: ${error.message}`,
      retryable: false,
      ...(details ? { details } : {}),
    };
  }
  Object.assign(prepared.execution, {
    parent_execution_id: execution.id,
    parent_step_id: stepId,
    parent_item_index: itemIndex,
    workflow_depth: depth,
  });
  return prepared;
}

/**
 * The outcome of a woken `workflow` step, read from its child: completed with the child's output,
 * a failed retryable attempt when the child failed or was cancelled. A child still under way
 * (only after a spurious wake) is looked at again in a minute.
 */
export async function childOutcome(store: Store, claimed: ClaimedStep): Promise<StepOutcome> {
  const input = claimed.input === null ? null : JSON.parse(claimed.input);
  const childId = claimed.child_execution_id ?? '';
  const child = await store.executions.getById(childId);
  if (!child) {
    return {
      kind: 'failed',
      input,
      error: { message: `workflow: child execution '${childId}' is gone`, retryable: true },
    };
  }
  if (child.status === 'completed') {
    return { kind: 'completed', input, output: child.output === null ? null : JSON.parse(child.output) };
  }
  if (child.status === 'failed' || child.status === 'cancelled') {
    const cause = readExecutionError(child.error);
    const reason = cause ? `: ${cause.message}` : '';
    return {
      kind: 'failed',
      input,
      error: {
        message: `workflow: child execution '${child.id}' ${child.status === 'failed' ? 'failed' : 'was cancelled'}${reason}`,
        retryable: true,
        details: { child_execution_id: child.id, child_status: child.status, child_error: cause },
      },
    };
  }
  return { kind: 'waiting', input, until: Date.now() + 60_000, output: null };
}

/**
 * Called in the transaction that ends `child`: makes its parent's waiting step due, so the
 * parent's engine settles it from the child. True when a parent step was woken (announce work).
 */
export async function wakeParentStep(tx: Store, child: ExecutionRow): Promise<boolean> {
  const parentId = child.parent_execution_id;
  const stepId = child.parent_step_id;
  if (!parentId || !stepId) return false;
  const index = child.parent_item_index;
  if (index !== null && index !== undefined) {
    // A child of a `for_each` item wakes that item (claimed like a fired timer).
    const key = { executionId: parentId, stepId, index };
    const item = await tx.items.get(key);
    if (item?.status !== 'waiting' || item.child_execution_id !== child.id) return false;
    return tx.items.update(key, { run_at: Date.now() }, { statuses: ['waiting'], attempt: item.attempts });
  }
  const step = await tx.steps.get(parentId, stepId);
  if (step?.status !== 'waiting' || step.child_execution_id !== child.id) return false;
  return tx.steps.update(parentId, stepId, { run_at: Date.now() }, { statuses: ['waiting'], attempt: step.attempts });
}

/**
 * Cancels the unended children of an ending execution, and theirs, in its transaction. Called
 * before the parent's own steps are cancelled: each child is locked before any step it waits to
 * wake, the order a child's own ending takes too.
 */
export async function cancelChildren(tx: Store, parentId: string, at: string): Promise<void> {
  for (const child of await tx.executions.unendedChildren(parentId)) {
    await cancelUnsettledSteps(tx, child.id, at, 'cancelled: its parent execution ended');
    const changed = await tx.executions.update(
      child.id,
      { status: 'cancelled', completed_at: at, steps_unsettled: 0, updated_at: nowIso() },
      [child.status],
    );
    if (!changed) continue;
    if (holdsSlot(child.status)) await slotFreed(tx, child);
    await tx.executionLog.append([
      {
        workspaceId: child.workspace_id,
        executionId: child.id,
        type: 'workflow.cancelled',
        at,
        data: { execution_id: child.id, workflow_id: child.workflow_id, status: 'cancelled', reason: 'parent_ended' },
      },
    ]);
    tx.note(executionEnded(child, 'cancelled', at, 'its parent execution ended'));
    await tx.notify('weft_cancel', child.id);
  }
}
