import { wakeParentStep } from '../children/child-workflows.js';
import type { WorkflowDefinition } from '../definition/definition-schema.js';
import { executionEnded } from '../engine/engine-log.js';
import { executionError } from '../engine/execution-error.js';
import { cancelUnsettledSteps } from '../engine/finish.js';
import type { PreparedExecution } from '../engine/start-execution.js';
import { SLOT_HOLDING_STATUSES } from '../engine/states.js';
import { WeftError } from '../errors.js';
import { nowIso } from '../ids.js';
import type { ExecutionRow } from '../store/database-schema.js';
import type { NewEvent } from '../store/repositories/execution-log-repository.js';
import type { Store } from '../store/store.js';
import { type ConcurrencyRule, concurrencyRuleOf } from './concurrency-keys.js';
import type { SlotKey } from './concurrency-repository.js';

/**
 * Admission of executions under a workflow's `concurrency` block (SPEC §3.1). The execution's
 * status is the gate: a `queued` execution's steps are never claimed (every claim requires a
 * running execution), so admitting one is a single guarded status change. Every decision takes
 * the key's lock first and counts the holders in the same transaction, which makes the limit
 * exact across processes on PostgreSQL.
 */

/** The error code of an execution cancelled by its key's strategy. */
export const CONCURRENCY_LIMIT_CODE = 'CONCURRENCY_LIMIT' as const;

function slotOf(execution: ExecutionRow): SlotKey | undefined {
  const group = execution.concurrency_group;
  return group === null || group === undefined ? undefined : { group, key: execution.concurrency_key ?? '' };
}

function slotId({ group, key }: SlotKey): string {
  return `slot\u001f${group}\u001f${key}`;
}

function limitReached(rule: ConcurrencyRule, key: string, holders: number): string {
  const named = key === '' ? 'the workflow' : `key '${key}'`;
  return `the concurrency limit of ${named} is reached (${holders} of ${rule.limit} slots held; strategy ${rule.strategy})`;
}

function executionEvent(execution: ExecutionRow, type: string, data: Record<string, unknown>, at: string): NewEvent {
  return {
    workspaceId: execution.workspace_id,
    executionId: execution.id,
    type,
    at,
    data: { execution_id: execution.id, workflow_id: execution.workflow_id, ...data },
  };
}

/**
 * Decides, before they are inserted, which new started executions run, queue, or are cancelled
 * (`cancel_newest`), and cancels the oldest holders `cancel_in_progress` makes room with. Changes
 * the prepared rows in place; returns the events of those that do not run.
 */
export async function admitStarts(tx: Store, prepared: readonly PreparedExecution[]): Promise<NewEvent[]> {
  const byKey = new Map<string, { slot: SlotKey; entries: PreparedExecution[] }>();
  for (const entry of prepared) {
    const slot = slotOf(entry.execution);
    if (!entry.concurrency || !slot || entry.execution.status !== 'running') continue;
    const id = slotId(slot);
    const group = byKey.get(id) ?? { slot, entries: [] };
    group.entries.push(entry);
    byKey.set(id, group);
  }
  const events: NewEvent[] = [];
  const at = nowIso();
  for (const id of [...byKey.keys()].sort()) {
    const { slot, entries } = byKey.get(id) as { slot: SlotKey; entries: PreparedExecution[] };
    await tx.concurrency.lockKey(slot);
    const counts = await tx.concurrency.counts(slot);
    const admitted: PreparedExecution[] = [];
    let victims: ExecutionRow[] | undefined;
    let holders = counts.holders;
    for (const entry of entries) {
      const rule = entry.concurrency as ConcurrencyRule;
      const behindQueue = rule.strategy === 'queue' && counts.queued > 0;
      if (holders < rule.limit && !behindQueue) {
        holders += 1;
        admitted.push(entry);
      } else if (rule.strategy === 'queue') {
        Object.assign(entry.execution, { status: 'queued', queued_at: at, started_at: null, timeout_at: null });
        // Its root steps wait without a due time until it is admitted (see `parkSteps`).
        for (const step of entry.steps) if (step.status === 'queued') step.run_at = null;
        counts.queued += 1;
        events.push(executionEvent(entry.execution, 'workflow.queued', queuedData(entry.execution), at));
      } else if (rule.strategy === 'cancel_newest') {
        events.push(await cancelNewcomer(tx, entry, limitReached(rule, slot.key, holders), at));
      } else {
        // cancel_in_progress: the oldest holder makes room; an earlier newcomer of this batch when
        // the holders already running are used up.
        victims ??= await tx.concurrency.oldestHolders(slot, entries.length);
        const victim = victims.shift();
        const message = `cancelled to make room for execution '${entry.execution.id}': ${limitReached(rule, slot.key, holders)}`;
        if (victim) await cancelHolder(tx, victim, message, at);
        else {
          const earlier = admitted.shift();
          if (earlier) events.push(await cancelNewcomer(tx, earlier, message, at));
        }
        admitted.push(entry);
      }
    }
    // Queued executions with free slots (a workflow enabled again): admit them in turn.
    if (counts.queued > 0 && holders < (entries[0]?.concurrency?.limit ?? 0)) await slotFreedAt(tx, slot);
  }
  return events;
}

function queuedData(execution: ExecutionRow): Record<string, unknown> {
  return { status: 'queued', concurrency_key: execution.concurrency_key };
}

/** Marks a new execution cancelled by its key's strategy (its rows are not inserted yet). */
async function cancelNewcomer(tx: Store, entry: PreparedExecution, message: string, at: string): Promise<NewEvent> {
  const error = executionError(CONCURRENCY_LIMIT_CODE, message);
  Object.assign(entry.execution, {
    status: 'cancelled',
    error: JSON.stringify(error),
    completed_at: at,
    timeout_at: null,
    steps_unsettled: 0,
  });
  for (const step of entry.steps) {
    Object.assign(step, { status: 'cancelled', run_at: null, queued_at: null, completed_at: at });
  }
  // A child cancelled at its start fails its parent's attempt, once the parent waits on it.
  await tx.beforeCommit(`wake\u001f${entry.execution.id}`, async (later) => {
    if (await wakeParentStep(later, entry.execution)) await later.notify('weft_work');
  });
  // It never ran (its row keeps the start time it was prepared with): no duration to time.
  tx.note(executionEnded({ ...entry.execution, started_at: null }, 'cancelled', at, error));
  return executionEvent(entry.execution, 'workflow.cancelled', { status: 'cancelled', error }, at);
}

/** Cancels a slot holder (`cancel_in_progress`); false when it had ended meanwhile. */
async function cancelHolder(tx: Store, victim: ExecutionRow, message: string, at: string): Promise<boolean> {
  return cancelExisting(tx, victim, SLOT_HOLDING_STATUSES, message, at);
}

/** Cancels a stored execution for its key's strategy, as a user's cancel would, with the reason. */
async function cancelExisting(
  tx: Store,
  execution: ExecutionRow,
  from: readonly string[],
  message: string,
  at: string,
): Promise<boolean> {
  await cancelUnsettledSteps(tx, execution.id, at, `cancelled: ${message}`);
  const error = executionError(CONCURRENCY_LIMIT_CODE, message);
  const patch = { status: 'cancelled', completed_at: at, steps_unsettled: 0, updated_at: at };
  if (!(await tx.executions.update(execution.id, { ...patch, error: JSON.stringify(error) }, from))) return false;
  Object.assign(execution, patch, { error: JSON.stringify(error) });
  await tx.executionLog.append([executionEvent(execution, 'workflow.cancelled', { status: 'cancelled', error }, at)]);
  tx.note(executionEnded(execution, 'cancelled', at, error));
  if (await wakeParentStep(tx, execution)) await tx.notify('weft_work');
  // Its steps running anywhere are aborted there.
  await tx.notify('weft_cancel', execution.id);
  return true;
}

/** What a start, resume or retry of a stored execution is to do under its key's limit. */
export type SlotAnswer = 'run' | 'queue' | 'cancelled';

/**
 * Asks for a slot for a stored execution that is to run again: a start of a pending execution,
 * a resume or retry of an ended one. `run`: a slot is free (or `cancel_in_progress` freed one);
 * `queue`: wait in line; `cancelled`: a start under `cancel_newest` found no slot and the
 * execution is cancelled now. A resume or retry under `cancel_newest` without a slot is a 409.
 */
export async function askSlot(
  tx: Store,
  execution: ExecutionRow,
  definition: WorkflowDefinition,
  action: 'start' | 'resume' | 'retry',
): Promise<SlotAnswer> {
  const slot = slotOf(execution);
  const rule = concurrencyRuleOf(definition);
  if (!slot || !rule) return 'run';
  await tx.concurrency.lockKey(slot);
  const { holders, queued } = await tx.concurrency.counts(slot);
  if (holders < rule.limit && !(rule.strategy === 'queue' && queued > 0)) return 'run';
  const reason = limitReached(rule, slot.key, holders);
  if (rule.strategy === 'queue') return 'queue';
  if (rule.strategy === 'cancel_in_progress') {
    const [victim] = await tx.concurrency.oldestHolders(slot, 1);
    if (victim)
      await cancelHolder(tx, victim, `cancelled to make room for execution '${execution.id}': ${reason}`, nowIso());
    return 'run';
  }
  if (action !== 'start') throw new WeftError('CONFLICT', `cannot ${action} now: ${reason}; try again later`);
  await cancelExisting(tx, execution, ['pending'], reason, nowIso());
  return 'cancelled';
}

/**
 * Parks the steps of a stored execution that starts waiting for a slot (a start or resume that
 * queued) and returns its event.
 */
export async function queueStored(tx: Store, execution: ExecutionRow, at: string): Promise<NewEvent> {
  await tx.concurrency.parkSteps(execution.id);
  return executionEvent(execution, 'workflow.queued', queuedData(execution), at);
}

/**
 * Called when an execution stops holding a slot (it ended or was cancelled): admits the oldest
 * queued executions of its key at the end of the same transaction.
 */
export async function slotFreed(tx: Store, execution: ExecutionRow): Promise<void> {
  const slot = slotOf(execution);
  if (slot) await slotFreedAt(tx, slot);
}

function slotFreedAt(tx: Store, slot: SlotKey): Promise<void> {
  return tx.beforeCommit(slotId(slot), (later) => admitWaiting(later, slot).then(() => undefined));
}

/**
 * Admits the oldest queued executions of a key while it has free slots (each under the limit of
 * the definition version it pinned); returns how many it admitted.
 */
export async function admitWaiting(tx: Store, slot: SlotKey): Promise<number> {
  await tx.concurrency.lockKey(slot);
  let holders: number | undefined;
  let admitted = 0;
  for (;;) {
    // The holders are counted with the first candidates (one round trip), then kept here.
    const batch = await tx.concurrency.oldestQueued(slot, ADMIT_BATCH);
    const candidates = batch.candidates;
    holders ??= batch.holders;
    if (candidates.length === 0 || holders === undefined) break;
    // In queue order while the limit (of each one's pinned version) leaves room; by timeout.
    const chosen = new Map<number | null, ExecutionRow[]>();
    let full = false;
    for (const candidate of candidates) {
      const definition = await definitionOf(tx, candidate);
      const rule = definition ? concurrencyRuleOf(definition) : undefined;
      if (rule && holders >= rule.limit) {
        full = true;
        break;
      }
      const timeout = definition?.timeout_seconds ?? null;
      chosen.set(timeout, [...(chosen.get(timeout) ?? []), candidate]);
      holders += 1;
    }
    const at = nowIso();
    const now = Date.now();
    const events: NewEvent[] = [];
    for (const [timeout, group] of chosen) {
      // The workflow timeout counts from admission, as from a start.
      const done = await tx.concurrency.admit(
        group.map((row) => row.id),
        at,
        timeout ? now + timeout * 1000 : null,
        now,
      );
      for (const row of group) {
        if (!done.has(row.id)) continue;
        const queuedMs = row.queued_at ? Math.max(0, now - Date.parse(row.queued_at)) : 0;
        const type = row.started_at ? 'workflow.resumed' : 'workflow.started';
        events.push(executionEvent(row, type, { status: 'running', admitted: true, queued_ms: queuedMs }, at));
      }
      holders -= group.length - done.size;
    }
    await tx.executionLog.append(events);
    admitted += events.length;
    if (full || candidates.length < ADMIT_BATCH) break;
  }
  if (admitted > 0) await tx.notify('weft_work');
  return admitted;
}

/** Queued executions read per round of `admitWaiting`. */
const ADMIT_BATCH = 100;

/** Definitions of pinned versions (immutable), so an admission does not read them each time. */
const versionDefinitions = new Map<string, WorkflowDefinition | undefined>();

async function definitionOf(tx: Store, execution: ExecutionRow): Promise<WorkflowDefinition | undefined> {
  if (execution.adhoc_definition) return JSON.parse(execution.adhoc_definition) as WorkflowDefinition;
  const id = `${execution.workflow_id}@${execution.workflow_version}`;
  const known = versionDefinitions.get(id);
  if (known || !execution.workflow_id || execution.workflow_version === null) return known;
  const definition = await tx.workflows.versionDefinition(execution.workflow_id, execution.workflow_version);
  if (versionDefinitions.size >= 1000) versionDefinitions.clear();
  if (definition) versionDefinitions.set(id, definition);
  return definition;
}

/**
 * Admits, for keys with queued executions, what free slots allow: after a workflow is enabled
 * again, or a limit raised in a new version. Run by the engine's sweep; returns how many ran.
 */
export async function admitStranded(store: Store): Promise<number> {
  let admitted = 0;
  for (const slot of await store.concurrency.keysWithQueued(100)) {
    admitted += await store.transaction((tx) => admitWaiting(tx, slot));
  }
  return admitted;
}

/** True when an execution in this status holds a slot of its key. */
export function holdsSlot(status: string): boolean {
  return (SLOT_HOLDING_STATUSES as readonly string[]).includes(status);
}
