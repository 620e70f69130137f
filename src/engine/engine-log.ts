import type { FastifyBaseLogger } from 'fastify';
import { redactUrl } from '../logger.js';
import type { ExecutionRow } from '../store/database-schema.js';
import type {
  CommittedLog,
  ExecutionEndedNote,
  LeaseRecoveredNote,
} from '../store/repositories/execution-log-repository.js';
import { TASK_OWNER_PREFIX, workerOfOwner } from './task-ids.js';

/**
 * The engine's lines in the process log (docs/logging.md): one per execution start and end, per
 * step failure and retry, per lease taken back. They are read from what each transaction committed
 * (the store's commit observer, installed by the server), so a line means it happened and nothing
 * is logged for a rollback, and they cost the engine nothing it does not do already: a successful
 * step adds a type comparison per event, no line and no parse. They carry ids, names, statuses,
 * durations and error messages, never inputs, outputs or secrets.
 */

/** The status each event type ending an execution ends it with. */
export const ENDING_EVENTS: ReadonlyMap<string, ExecutionEndedNote['status']> = new Map([
  ['workflow.completed', 'completed'],
  ['workflow.failed', 'failed'],
  ['workflow.cancelled', 'cancelled'],
]);

/** The note of an execution ending at `endedAt`; `error` is its event's `error` (an object with a message). */
export function executionEnded(
  execution: Pick<ExecutionRow, 'id' | 'workspace_id' | 'workflow_id' | 'started_at'>,
  status: ExecutionEndedNote['status'],
  endedAt: string,
  error?: unknown,
): ExecutionEndedNote {
  return {
    kind: 'execution_ended',
    workspaceId: execution.workspace_id,
    executionId: execution.id,
    workflowId: execution.workflow_id,
    status,
    startedAt: execution.started_at,
    endedAt,
    error: messageOf(error),
  };
}

/** The note of a lease taken back from `row`'s holder (a step, or a `for_each` item with `item_index`). */
export function leaseRecovered(
  row: {
    workspace_id: string;
    execution_id: string;
    step_id: string;
    attempts: number;
    lease_owner: string | null;
    item_index?: number;
  },
  cause: LeaseRecoveredNote['cause'],
): LeaseRecoveredNote {
  const owner = row.lease_owner ?? '';
  const worker = owner.startsWith(TASK_OWNER_PREFIX);
  return {
    kind: 'lease_recovered',
    holder: worker ? 'worker' : 'engine',
    cause,
    // A task's lease owner holds its claim nonce; only the worker's id is logged.
    owner: worker ? workerOfOwner(owner) : owner,
    workspaceId: row.workspace_id,
    executionId: row.execution_id,
    stepId: row.step_id,
    item: row.item_index ?? null,
    attempt: row.attempts,
  };
}

/** Longest error message a line carries; the rest is cut (the event log keeps it whole). */
const MAX_MESSAGE_CHARS = 1000;

/** The message of an error object (or text), cut to MAX_MESSAGE_CHARS, with secret URL parameters redacted. */
function messageOf(error: unknown): string | undefined {
  const message =
    typeof error === 'string'
      ? error
      : typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string'
        ? (error as { message: string }).message
        : undefined;
  if (message === undefined) return undefined;
  const cut = message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}…` : message;
  return redactUrl(cut);
}

/** Pino's level numbers (`silent` and unknown levels log nothing). */
const LEVELS: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const INFO = 30;
const WARN = 40;

/** What a step event's `data` may hold (src/engine/settle.ts, recovery.ts, src/items/). */
interface StepEventData {
  workflow_id?: string | null;
  index?: number;
  attempt?: number;
  error?: { message?: string; code?: string };
  reason?: string;
  next_attempt_at?: string;
  fallback_type?: string;
}

/** Logs what one commit did (see the module comment); installed with `Store.observeCommits`. */
export function logCommitted(logger: FastifyBaseLogger, log: CommittedLog): void {
  const level = LEVELS[logger.level] ?? Number.POSITIVE_INFINITY;
  if (level > WARN) return;
  // Taken-back leases first: the step line each one is followed by says what became of the step.
  if (log.notes) for (const note of log.notes) if (note.kind === 'lease_recovered') logLease(logger, note);
  for (const event of log.events) {
    const type = event.type;
    if (type === 'step.retrying' || type === 'step.failed') {
      const data = JSON.parse(event.data) as StepEventData;
      const retrying = type === 'step.retrying';
      if (retrying && level > INFO) continue;
      const fields = {
        execution_id: event.execution_id,
        workflow_id: data.workflow_id ?? null,
        workspace_id: event.workspace_id,
        step_id: event.step_id,
        ...(data.index === undefined ? {} : { item: data.index }),
        attempt: data.attempt ?? attemptOf(log, event.execution_id, event.step_id),
        ...(data.error === undefined ? {} : { error: messageOf(data.error) }),
        ...(data.error?.code === undefined ? {} : { code: data.error.code }),
        ...(data.reason === undefined ? {} : { reason: data.reason }),
        ...(data.next_attempt_at === undefined ? {} : { next_attempt_at: data.next_attempt_at }),
        ...(data.fallback_type === undefined ? {} : { fallback_type: data.fallback_type }),
      };
      if (retrying) logger.info(fields, 'step retrying');
      else logger.warn(fields, 'step failed');
    } else if ((type === 'workflow.started' || type === 'workflow.resumed') && level <= INFO) {
      const data = JSON.parse(event.data) as { workflow_id?: string | null };
      logger.info(
        { execution_id: event.execution_id, workflow_id: data.workflow_id ?? null, workspace_id: event.workspace_id },
        type === 'workflow.started' ? 'execution started' : 'execution resumed',
      );
    }
  }
  if (log.notes) for (const note of log.notes) if (note.kind === 'execution_ended') logEnded(logger, note, level);
}

/** The attempt a step-level failure event is about, from the attempt recorded with it. */
function attemptOf(log: CommittedLog, executionId: string, stepId: string | null): number | undefined {
  for (let index = log.attempts.length - 1; index >= 0; index -= 1) {
    const attempt = log.attempts[index];
    if (attempt?.execution_id === executionId && attempt.step_id === stepId) return attempt.attempt;
  }
  return undefined;
}

function logLease(logger: FastifyBaseLogger, note: LeaseRecoveredNote): void {
  logger.warn(
    {
      holder: note.holder,
      owner: note.owner,
      execution_id: note.executionId,
      workspace_id: note.workspaceId,
      step_id: note.stepId,
      ...(note.item === null ? {} : { item: note.item }),
      attempt: note.attempt,
    },
    note.cause === 'expired' ? 'lease expired; taking the step back' : 'taking back a step of an earlier incarnation',
  );
}

function logEnded(logger: FastifyBaseLogger, note: ExecutionEndedNote, level: number): void {
  if (note.status !== 'failed' && level > INFO) return;
  const fields = {
    execution_id: note.executionId,
    workflow_id: note.workflowId,
    workspace_id: note.workspaceId,
    status: note.status,
    ...(note.startedAt === null ? {} : { duration_ms: durationMs(note) }),
    ...(note.error === undefined ? {} : { error: note.error }),
  };
  if (note.status === 'failed') logger.warn(fields, 'execution failed');
  else logger.info(fields, `execution ${note.status}`);
}

/** From start to end, in ms (never negative: clocks of two processes may disagree). */
export function durationMs(note: ExecutionEndedNote): number | undefined {
  if (note.startedAt === null) return undefined;
  const ms = Date.parse(note.endedAt) - Date.parse(note.startedAt);
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}
