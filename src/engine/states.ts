/**
 * Execution and step states, and every allowed transition, in one place (SPEC §3). Anything that
 * changes a status checks it here; a transition not listed is a 409 naming both states.
 */

/** Status of an execution. */
export type ExecutionStatus = 'pending' | 'queued' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

/** Every execution status, in lifecycle order (lists, filters and counts show them in this order). */
export const EXECUTION_STATUSES = Object.freeze([
  'pending',
  'queued',
  'running',
  'paused',
  'completed',
  'failed',
  'cancelled',
] as const satisfies readonly ExecutionStatus[]);

/** Status of a step within an execution. */
export type StepStatus =
  | 'pending'
  | 'queued'
  | 'running'
  | 'waiting'
  | 'completed'
  | 'failed'
  | 'skipped'
  | 'cancelled';

/** Every step status, in lifecycle order. */
export const STEP_STATUSES = Object.freeze([
  'pending',
  'queued',
  'running',
  'waiting',
  'completed',
  'failed',
  'skipped',
  'cancelled',
] as const satisfies readonly StepStatus[]);

/**
 * What a timeline entry shows of an attempt: how a recorded attempt ended (`lost`: its lease
 * expired; `interrupted`: its process stopped; `released`: a worker handed it back; `cancelled`:
 * the execution ended while it ran), or `running` / `waiting` for the attempt under way.
 */
export const ATTEMPT_STATUSES = Object.freeze([
  'completed',
  'failed',
  'lost',
  'interrupted',
  'released',
  'cancelled',
  'running',
  'waiting',
] as const);

/** Execution statuses after which nothing runs until a resume or retry. */
export const TERMINAL_EXECUTION_STATUSES: readonly ExecutionStatus[] = Object.freeze([
  'completed',
  'failed',
  'cancelled',
]);

/** Step statuses that count as settled for dependency purposes. */
export const SETTLED_STEP_STATUSES: readonly StepStatus[] = Object.freeze([
  'completed',
  'failed',
  'skipped',
  'cancelled',
]);

/** Lifecycle actions a user can take on an execution. */
export type ExecutionAction = 'start' | 'pause' | 'resume' | 'cancel' | 'retry';

/** For each action, the statuses it may be taken from and the status it leads to. */
export const EXECUTION_ACTIONS: Readonly<
  Record<ExecutionAction, { from: readonly ExecutionStatus[]; to: ExecutionStatus }>
> = Object.freeze({
  start: { from: ['pending'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused', 'failed', 'cancelled'], to: 'running' },
  cancel: { from: ['pending', 'queued', 'running', 'paused'], to: 'cancelled' },
  retry: { from: ['completed', 'failed', 'cancelled'], to: 'running' },
});

/**
 * Statuses from which the engine itself ends an execution (completed when its steps are done,
 * failed on a failure or timeout). A paused execution can still end: its running steps finish.
 */
export const ENDS_FROM: readonly ExecutionStatus[] = Object.freeze(['running', 'paused']);

/**
 * Executions that hold a slot of their workflow's concurrency key (SPEC §3.1). A `queued`
 * execution holds none: it becomes `running` when admitted (src/concurrency/), and its steps are
 * not claimed before (every claim requires a running execution).
 */
export const SLOT_HOLDING_STATUSES: readonly ExecutionStatus[] = Object.freeze(['running', 'paused']);

/**
 * Admission of a workflow with a `concurrency` block: a start, resume or retry that finds its key
 * full becomes (or stays) `queued` instead of `running`, per strategy; a queued execution becomes
 * `running` when a slot frees, or `cancelled` by the user.
 */
export const ADMISSION: Readonly<{ from: readonly ExecutionStatus[]; to: ExecutionStatus }> = Object.freeze({
  from: Object.freeze<ExecutionStatus[]>(['queued']),
  to: 'running',
});

/** True when a step status is settled. */
export function isSettled(status: string): boolean {
  return (SETTLED_STEP_STATUSES as readonly string[]).includes(status);
}

/** True when an execution status is terminal. */
export function isTerminal(status: string): boolean {
  return (TERMINAL_EXECUTION_STATUSES as readonly string[]).includes(status);
}
