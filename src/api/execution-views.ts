import { type Static, Type } from 'typebox';
import { ExecutionErrorSchema, readExecutionError } from '../engine/execution-error.js';
import { workerOfOwner } from '../engine/external-tasks.js';
import { ATTEMPT_STATUSES, EXECUTION_STATUSES, STEP_STATUSES } from '../engine/states.js';
import type { ItemCounts } from '../items/item-repository.js';
import { ItemCountsSchema, itemCountsView } from '../items/item-routes.js';
import type { ExecutionRow, ExecutionStepRow, StepAttemptRow } from '../store/database-schema.js';
import type { StepTally } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import { OneOf, Timestamp } from './schemas.js';

/** How executions, their steps, progress and timeline are shown by the API. */

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const ProgressSchema = Type.Object({
  total: Type.Integer(),
  completed: Type.Integer(),
  failed: Type.Integer(),
  skipped: Type.Integer(),
  running: Type.Array(Type.String(), { description: 'Ids of steps running now.' }),
  percent: Type.Integer({ description: 'Settled steps (completed, failed, skipped, cancelled) over all steps.' }),
});

export const ExecutionStepSchema = Type.Object({
  step_id: Type.String(),
  type: Type.String(),
  status: OneOf(STEP_STATUSES),
  attempts: Type.Integer(),
  input: Type.Unknown(),
  output: Type.Unknown(),
  error: Type.Unknown(),
  used_fallback: Type.Boolean(),
  skip_reason: Nullable(Type.String()),
  started_at: Nullable(Timestamp),
  completed_at: Nullable(Timestamp),
  child_execution_id: Nullable(
    Type.String({ description: 'A `workflow` step: the child execution of its current (or last) attempt.' }),
  ),
  waiting_for_signal: Nullable(
    Type.String({ description: 'A `wait_for_signal` step while `waiting`: the signal name it waits for.' }),
  ),
  items: Type.Optional(ItemCountsSchema),
});

export const ExecutionSchema = Type.Object(
  {
    id: Type.String(),
    workflow_id: Nullable(Type.String()),
    workflow_version: Nullable(Type.Integer()),
    workflow_name: Nullable(
      Type.String({ description: "The workflow's current name (also once deleted); null for an ad-hoc run." }),
    ),
    status: OneOf(EXECUTION_STATUSES),
    input: Type.Unknown(),
    output: Type.Unknown(),
    error: Nullable(ExecutionErrorSchema),
    progress: ProgressSchema,
    labels: Type.Record(Type.String(), Type.String()),
    reference: Nullable(Type.String()),
    trigger: Type.Unknown(),
    webhook_url: Nullable(Type.String()),
    parent_execution_id: Nullable(
      Type.String({ description: 'A child execution: the execution whose `workflow` step started it.' }),
    ),
    parent_step_id: Nullable(Type.String({ description: "A child execution: that parent's step." })),
    concurrency_key: Nullable(
      Type.String({
        description: "The rendered `concurrency.key` ('' for a block without a key); null without a concurrency block.",
      }),
    ),
    queue_position: Nullable(
      Type.Integer({
        minimum: 1,
        description: "While `queued`: its place in its key's queue (1 = admitted next); else null.",
      }),
    ),
    created_at: Timestamp,
    started_at: Nullable(Timestamp),
    completed_at: Nullable(Timestamp),
    deleted_at: Nullable(Timestamp),
    steps: Type.Optional(Type.Array(ExecutionStepSchema)),
  },
  { title: 'Execution' },
);

const SETTLED = ['completed', 'failed', 'skipped', 'cancelled'];

/** Tallies step rows by status (the same numbers `tallies` counts in the database for lists). */
export function tallyOf(steps: readonly ExecutionStepRow[]): StepTally {
  const counts: Record<string, number> = {};
  for (const step of steps) counts[step.status] = (counts[step.status] ?? 0) + 1;
  return { counts, running: steps.filter((step) => step.status === 'running').map((step) => step.step_id) };
}

/** Progress from the execution's steps, tallied (lists) or as rows (one execution): the same numbers. */
export function progressOf(execution: ExecutionRow, steps: readonly ExecutionStepRow[] | StepTally) {
  const total = execution.steps_total;
  const { counts, running } = Array.isArray(steps) ? tallyOf(steps) : (steps as StepTally);
  const settled = SETTLED.reduce((sum, status) => sum + (counts[status] ?? 0), 0);
  return {
    total,
    completed: counts.completed ?? 0,
    failed: counts.failed ?? 0,
    skipped: counts.skipped ?? 0,
    running,
    percent: total === 0 ? 100 : Math.floor((settled * 100) / total),
  };
}

/** What an execution view shows beside the execution's own row and steps. */
export interface ExecutionViewExtras {
  /** The workflow's name (`workflowNames`); null for an ad-hoc run. */
  workflowName: string | null;
  /** The item counts of `for_each` steps (src/items/), shown on their steps. */
  items?: ReadonlyMap<string, ItemCounts> | undefined;
  /** While queued for a concurrency slot, its place in the key's queue (`queuePositions`). */
  queuePosition?: number | null | undefined;
}

/**
 * The API view of an execution: with `steps` when they were loaded, else (lists) with the tally of
 * its steps for the progress.
 */
export function executionView(
  execution: ExecutionRow,
  steps: readonly ExecutionStepRow[] | StepTally,
  { workflowName, items, queuePosition = null }: ExecutionViewExtras,
) {
  return {
    id: execution.id,
    workflow_id: execution.workflow_id,
    workflow_version: execution.workflow_version,
    workflow_name: execution.workflow_id === null ? null : workflowName,
    status: execution.status,
    input: parse(execution.input),
    output: parse(execution.output),
    error: readExecutionError(execution.error),
    progress: progressOf(execution, steps),
    labels: JSON.parse(execution.labels) as Record<string, string>,
    reference: execution.reference,
    trigger: parse(execution.trigger),
    webhook_url: execution.webhook_url,
    parent_execution_id: execution.parent_execution_id ?? null,
    parent_step_id: execution.parent_step_id ?? null,
    concurrency_key: execution.concurrency_key ?? null,
    queue_position: execution.status === 'queued' ? (queuePosition ?? null) : null,
    created_at: execution.created_at,
    started_at: execution.started_at,
    completed_at: execution.completed_at,
    deleted_at: execution.deleted_at,
    ...(Array.isArray(steps)
      ? {
          steps: steps.map((step) => ({
            step_id: step.step_id,
            type: step.type,
            status: step.status,
            attempts: step.attempts,
            input: parse(step.input),
            output: parse(step.output),
            error: parse(step.error),
            used_fallback: step.used_fallback === 1,
            skip_reason: step.skip_reason,
            started_at: step.started_at,
            completed_at: step.completed_at,
            child_execution_id: step.child_execution_id ?? null,
            waiting_for_signal:
              step.status === 'waiting' && step.attempt_type === 'wait_for_signal'
                ? (step.waiting_signal ?? null)
                : null,
            ...(items?.has(step.step_id) ? { items: itemCountsView(items.get(step.step_id) as ItemCounts) } : {}),
          })),
        }
      : {}),
  };
}

export const TimelineEntrySchema = Type.Object({
  step_id: Type.String(),
  index: Nullable(
    Type.Integer({ description: 'The item of a `for_each` step this attempt ran (null: the step itself).' }),
  ),
  attempt: Type.Integer(),
  type: Type.String(),
  status: OneOf(ATTEMPT_STATUSES, {
    description:
      'How the attempt ended: completed, failed, lost (its lease expired), interrupted (its process stopped), ' +
      'released (a worker handed it back), cancelled (the execution ended while it ran); or running / waiting ' +
      '(the attempt under way).',
  }),
  used_fallback: Type.Boolean(),
  queued_at: Nullable(Timestamp),
  started_at: Nullable(Timestamp),
  ended_at: Nullable(Timestamp),
  duration_ms: Nullable(Type.Integer()),
  worker: Nullable(Type.String()),
  error: Type.Unknown(),
});

export const TimelineSchema = Type.Object(
  {
    execution_id: Type.String(),
    status: OneOf(EXECUTION_STATUSES),
    started_at: Nullable(Timestamp),
    completed_at: Nullable(Timestamp),
    items: Type.Array(TimelineEntrySchema),
  },
  { title: 'Execution timeline' },
);

/** One bar of the timeline: a step's or an item's attempt. */
export type TimelineEntry = Static<typeof TimelineEntrySchema>;

/** Milliseconds from one time to another, when both are known. */
export const millis = (from: string | null, to: string | null) =>
  from && to ? Math.max(0, new Date(to).getTime() - new Date(from).getTime()) : null;

/** Per step and attempt: queued, started and ended times, duration, worker, error. */
export function timelineView(
  execution: ExecutionRow,
  steps: readonly ExecutionStepRow[],
  attempts: readonly StepAttemptRow[],
  itemEntries: readonly TimelineEntry[] = [],
) {
  const position = new Map(steps.map((step) => [step.step_id, step.position]));
  const items: TimelineEntry[] = attempts.map((attempt) => ({
    step_id: attempt.step_id,
    index: null,
    attempt: attempt.attempt,
    type: attempt.type,
    status: attempt.status,
    used_fallback: attempt.used_fallback === 1,
    queued_at: attempt.queued_at,
    started_at: attempt.started_at,
    ended_at: attempt.ended_at,
    duration_ms: millis(attempt.started_at, attempt.ended_at),
    worker: attempt.worker,
    error: parse(attempt.error),
  }));
  for (const step of steps) {
    if (step.status !== 'running' && step.status !== 'waiting') continue;
    items.push({
      step_id: step.step_id,
      index: null,
      attempt: step.attempts,
      type: step.type,
      status: step.status,
      used_fallback: step.used_fallback === 1,
      queued_at: step.queued_at,
      started_at: step.started_at,
      ended_at: null,
      duration_ms: null,
      // The worker id, as recorded attempts name it (a worker's lease owner is `task:<nonce>:<id>`).
      worker: step.lease_owner === null ? null : workerOfOwner(step.lease_owner),
      error: null,
    });
  }
  items.push(...itemEntries);
  items.sort(
    (a, b) =>
      (position.get(a.step_id) ?? 0) - (position.get(b.step_id) ?? 0) ||
      (a.index ?? -1) - (b.index ?? -1) ||
      a.attempt - b.attempt,
  );
  return {
    execution_id: execution.id,
    status: execution.status,
    started_at: execution.started_at,
    completed_at: execution.completed_at,
    items,
  };
}

/** The places in their keys' queues of the queued executions among `rows` (one query per queued row). */
export function queuePositions(store: Store, rows: readonly ExecutionRow[]): Promise<Map<string, number>> {
  return store.concurrency.queuePositions(rows);
}

/**
 * The names of the workflows of `rows` (one query for their distinct workflow ids; none when every
 * row is ad hoc), by workflow id. Deleted workflows keep their name.
 */
export function workflowNames(
  store: Store,
  workspaceId: string,
  rows: readonly ExecutionRow[],
): Promise<Map<string, string>> {
  const ids = new Set<string>();
  for (const row of rows) if (row.workflow_id !== null) ids.add(row.workflow_id);
  return store.workflows.names(workspaceId, [...ids]);
}
