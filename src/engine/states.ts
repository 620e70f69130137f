/**
 * Execution and step states, and every allowed transition, in one place (SPEC §3). Anything that
 * changes a status checks it here; a transition not listed is a 409 naming both states.
 */

/** Status of an execution. */
export type ExecutionStatus = 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

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
  cancel: { from: ['pending', 'running', 'paused'], to: 'cancelled' },
  retry: { from: ['completed', 'failed', 'cancelled'], to: 'running' },
});

/**
 * Statuses from which the engine itself ends an execution (completed when its steps are done,
 * failed on a failure or timeout). A paused execution can still end: its running steps finish.
 */
export const ENDS_FROM: readonly ExecutionStatus[] = Object.freeze(['running', 'paused']);

/** True when a step status is settled. */
export function isSettled(status: string): boolean {
  return (SETTLED_STEP_STATUSES as readonly string[]).includes(status);
}

/** True when an execution status is terminal. */
export function isTerminal(status: string): boolean {
  return (TERMINAL_EXECUTION_STATUSES as readonly string[]).includes(status);
}
