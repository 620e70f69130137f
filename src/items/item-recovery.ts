import type { CompiledWorkflow, WorkflowRef } from '../engine/compiled-workflow.js';
import { leaseRecovered } from '../engine/engine-log.js';
import { workerOfOwner } from '../engine/external-tasks.js';
import { parseJsonText } from '../engine/json-text.js';
import { settleOutcomes } from '../engine/settle.js';
import { nowIso } from '../ids.js';
import type { Store } from '../store/store.js';
import { claimedItem } from './for-each.js';
import { itemAttemptRow } from './item-attempts.js';
import { itemClaimBase } from './item-claims.js';
import type { StepItemRow } from './item-repository.js';

/**
 * Recovering `for_each` items whose lease was lost, the way steps are (src/engine/recovery.ts
 * judges each lost owner by everything it held, steps and items): an engine's lost item goes
 * back to the queue without using up its retry budget, counted towards the poison-pill bound when
 * it was the only work of its process; an external worker's expired lease is a failed attempt.
 */

type WorkflowOf = (execution: WorkflowRef, tx: Store) => Promise<CompiledWorkflow>;

/** How the item's owner was lost, as judged by the caller. */
export interface ItemLoss {
  /** The loss counts towards the poison-pill bound. */
  counted: boolean;
  /** The owner was an earlier incarnation of a restarted process (its leases need not have expired). */
  restart: boolean;
  /** Most counted losses an item may have before it fails. */
  maxLost: number;
  /** The lost attempt's error message, given how many counted losses the item has now. */
  message: (lost: number) => string;
}

/** Recovers one lost item lease; false when it was settled, renewed or re-claimed meanwhile. */
export async function recoverLostItem(
  store: Store,
  row: StepItemRow,
  now: number,
  loss: ItemLoss,
  workflowOf: WorkflowOf,
): Promise<boolean> {
  return store.transaction(async (tx) => {
    // The execution is locked before its items, in the same order as settles.
    const execution = await tx.executions.getById(row.execution_id, true);
    if (!execution) return false;
    const lost = row.lost_attempts + (loss.counted ? 1 : 0);
    const message = loss.message(lost);
    const key = { executionId: row.execution_id, stepId: row.step_id, index: row.item_index };
    const owner = row.lease_owner ?? '';
    const guard = {
      statuses: ['running'],
      owner,
      attempt: row.attempts,
      ...(loss.restart ? {} : { leaseExpiredBefore: now }),
    };
    if (lost > loss.maxLost) {
      // Lost too often alone: the attempt fails (the fallback still applies, then tolerance).
      if (!(await tx.items.update(key, { lost_attempts: lost }, guard))) return false;
      tx.note(leaseRecovered(row, loss.restart ? 'restart' : 'expired'));
      const item = claimedItem({ ...row, previous_status: 'running' }, itemClaimBase(row, execution));
      const result = await settleOutcomes(
        tx,
        [
          {
            step: item,
            outcome: { kind: 'failed', input: parseJsonText(row.input), error: { message, retryable: false } },
            endedAt: nowIso(),
          },
        ],
        { owner, worker: owner, leaseMs: 0, capacity: 0, workflowOf: (next) => workflowOf(next, tx) },
      );
      for (const aborted of result.aborted) await tx.notify('weft_cancel', aborted.executionId);
      await tx.notify('weft_work');
      return true;
    }
    const at = nowIso();
    const error = JSON.stringify({ message, retryable: true });
    const released = { lease_owner: null, lease_expires_at: null, lost_attempts: lost };
    // A woken `workflow` item whose settle was lost: its child already ended, so it is settled
    // from that child again rather than starting another.
    const patch = row.child_execution_id
      ? { status: 'waiting', run_at: now, ...released }
      : { status: 'queued', run_at: now, queued_at: at, attempt_base: row.attempt_base + 1, error, ...released };
    if (!(await tx.items.update(key, patch, guard))) return false;
    tx.note(leaseRecovered(row, loss.restart ? 'restart' : 'expired'));
    const item = claimedItem({ ...row, previous_status: 'running' }, itemClaimBase(row, execution));
    await tx.itemAttempts.record([itemAttemptRow(item, 'lost', error, owner, at)]);
    await tx.executionLog.append([
      {
        workspaceId: row.workspace_id,
        executionId: row.execution_id,
        stepId: row.step_id,
        type: 'step.retrying',
        at,
        data: {
          execution_id: execution.id,
          workflow_id: execution.workflow_id,
          step_id: row.step_id,
          index: row.item_index,
          attempt: row.attempts,
          status: 'queued',
          error: { message, retryable: true },
          reason: loss.restart ? 'process_restarted' : 'lease_expired',
        },
      },
    ]);
    await tx.notify('weft_work');
    return true;
  });
}

/**
 * An external worker's expired lease on an item is a failed, retryable attempt, like a timeout:
 * the item's retry policy and fallback apply.
 */
export async function failExpiredTaskItem(
  store: Store,
  expired: StepItemRow,
  now: number,
  describe: (row: StepItemRow, timeoutSeconds: number | null | undefined) => string,
  workflowOf: WorkflowOf,
): Promise<boolean> {
  const owner = expired.lease_owner ?? '';
  return store.transaction(async (tx) => {
    const execution = await tx.executions.getById(expired.execution_id, true);
    const key = { executionId: expired.execution_id, stepId: expired.step_id, index: expired.item_index };
    const row = execution ? await tx.items.get(key) : undefined;
    if (!execution || !row) return false;
    // Settled, renewed or re-claimed since it was read: nothing to recover.
    if (row.status !== 'running' || row.lease_owner !== owner || row.attempts !== expired.attempts) return false;
    if (Number(row.lease_expires_at ?? 0) >= now) return false;
    tx.note(leaseRecovered(row, 'expired'));
    const definition = (await workflowOf(execution, tx)).steps.get(row.step_id);
    const timeout =
      row.used_fallback === 1
        ? (definition?.fallback?.timeout_seconds ?? definition?.timeout_seconds)
        : definition?.timeout_seconds;
    const item = claimedItem({ ...row, previous_status: 'running' }, itemClaimBase(row, execution));
    const result = await settleOutcomes(
      tx,
      [
        {
          step: item,
          outcome: {
            kind: 'failed',
            input: parseJsonText(row.input),
            error: { message: describe(row, timeout), retryable: true },
          },
          endedAt: nowIso(),
        },
      ],
      { owner, worker: workerOfOwner(owner), leaseMs: 0, capacity: 0, workflowOf: (next) => workflowOf(next, tx) },
    );
    await tx.notify('weft_work');
    for (const aborted of result.aborted) await tx.notify('weft_cancel', aborted.executionId);
    return true;
  });
}
