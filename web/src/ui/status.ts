import {
  EXECUTION_ACTIONS,
  EXECUTION_STATUSES,
  type ExecutionAction,
  TERMINAL_EXECUTION_STATUSES,
} from '../../../src/engine/states';

/**
 * How statuses look: one tone (a CSS colour variable) and one symbol per execution, step, item and
 * attempt status, so that a status is never told by colour alone (STYLE: colour and icon or text).
 * Pure: unit-tested in status.test.ts.
 */

/** Every status the API names: executions, steps, items and attempts (timeline). */
export const STATUSES = [
  'pending',
  'queued',
  'running',
  'waiting',
  'paused',
  'completed',
  'failed',
  'skipped',
  'cancelled',
  'lost',
  'interrupted',
  'released',
] as const;

export type KnownStatus = (typeof STATUSES)[number];

/** The look of a status: a tone (CSS variable `--status-<tone>`) and a symbol. */
export interface StatusLook {
  tone: 'neutral' | 'queued' | 'active' | 'waiting' | 'paused' | 'success' | 'danger' | 'muted' | 'warning';
  symbol: string;
  label: string;
}

const LOOKS: Record<KnownStatus, StatusLook> = {
  pending: { tone: 'neutral', symbol: '○', label: 'pending' },
  queued: { tone: 'queued', symbol: '◔', label: 'queued' },
  running: { tone: 'active', symbol: '▶', label: 'running' },
  waiting: { tone: 'waiting', symbol: '◷', label: 'waiting' },
  paused: { tone: 'paused', symbol: '❚❚', label: 'paused' },
  completed: { tone: 'success', symbol: '✓', label: 'completed' },
  failed: { tone: 'danger', symbol: '✕', label: 'failed' },
  skipped: { tone: 'muted', symbol: '↷', label: 'skipped' },
  cancelled: { tone: 'warning', symbol: '⊘', label: 'cancelled' },
  lost: { tone: 'danger', symbol: '↯', label: 'lost' },
  interrupted: { tone: 'warning', symbol: '↯', label: 'interrupted' },
  released: { tone: 'neutral', symbol: '↺', label: 'released' },
};

/** The look of any status string; an unknown one (a newer server) is shown neutral, by its name. */
export function statusLook(status: string): StatusLook {
  return (LOOKS as Record<string, StatusLook>)[status] ?? { tone: 'neutral', symbol: '•', label: status };
}

/** True when an execution has ended (nothing runs until a resume or retry). */
export function isTerminalExecution(status: string): boolean {
  return (TERMINAL_EXECUTION_STATUSES as readonly string[]).includes(status);
}

/** Execution statuses, in the order filters list them (the server's own list). */
export { EXECUTION_STATUSES };

/** What an execution in `status` can be asked to do: the server's own transition table. */
export function executionActions(status: string): ExecutionAction[] {
  return (Object.keys(EXECUTION_ACTIONS) as ExecutionAction[]).filter((action) =>
    (EXECUTION_ACTIONS[action].from as readonly string[]).includes(status),
  );
}
