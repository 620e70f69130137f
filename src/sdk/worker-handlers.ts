import { NonRetryableError } from '../tasks/task-outcomes.js';
import type { ArtifactData } from './artifacts-client.js';
import type { Artifact, TaskFailure } from './types.js';

/**
 * What a worker runs: a handler per task type, optionally with what to declare about the type
 * (description, schemas, lease length). Shared by `createWorker` and `weft worker <module>`.
 */

/** What a handler gets besides its input. */
export interface WorkerTaskContext {
  /**
   * Aborted when the handler must stop: the execution was cancelled, the lease was lost, or the
   * worker is shutting down. Its `reason` is a `TaskAbortedError`. Pass it to fetch and the like.
   */
  signal: AbortSignal;
  taskId: string;
  executionId: string;
  stepId: string;
  /** 1 for the first attempt of the step. */
  attempt: number;
  /** Null for ad-hoc executions. */
  workflowId: string | null;
  /** The task type. */
  type: string;
  /** The item of a `for_each` step this task runs (0-based), or null for a step. */
  index: number | null;
  /**
   * Uploads artifact `name` of the task's execution, attributed to its step, with the worker's
   * key, and resolves to its metadata (to output as a reference). Allowed while the task is held;
   * after it is settled or its lease is lost the server answers 403, thrown as a `WeftApiError`.
   * Items of a `for_each` step share the step: give each its own name (e.g. with `index`).
   */
  putArtifact(name: string, data: ArtifactData, contentType?: string): Promise<Artifact>;
}

/**
 * Runs one task: returns (or resolves to) the step's output, or throws to fail the attempt:
 * a `NonRetryableError` skips the remaining attempts, any other error is retried.
 *
 * Written as a method type on purpose: method parameters are bivariant, so a handler declaring a
 * narrower input (`async (input: {url: string}) => …`) still fits a map of handlers.
 */
export type WorkerHandler = {
  run(input: unknown, context: WorkerTaskContext): unknown;
}['run'];

/** A handler with what the worker declares about its type (`PUT /task-types/{type}`). */
export interface WorkerHandlerDefinition {
  handler: WorkerHandler;
  description?: string;
  /** JSON Schema of the step input; definitions missing a required field are rejected. */
  inputSchema?: Record<string, unknown>;
  /** JSON Schema of the output; closed objects let validation reject unknown output fields. */
  outputSchema?: Record<string, unknown>;
  /** Lease length in seconds (1..3600; the server's default is 30). Heartbeats keep it alive. */
  leaseSeconds?: number;
}

/** Task type -> handler, or handler with its declaration. */
export type WorkerHandlers = Record<string, WorkerHandler | WorkerHandlerDefinition>;

/** Why a handler's signal was aborted. */
export type TaskAbortReason = 'cancelled' | 'lease_lost' | 'shutdown';

const REASON_MESSAGES: Record<TaskAbortReason, string> = {
  cancelled: 'the execution was cancelled or failed; the result will not be reported',
  lease_lost: 'the task lease was lost; the task went back to the queue',
  shutdown: 'the worker is stopping; the task is handed back to the queue',
};

/** The reason of an aborted handler signal. */
export class TaskAbortedError extends Error {
  constructor(readonly reason: TaskAbortReason) {
    super(REASON_MESSAGES[reason]);
    this.name = 'TaskAbortedError';
  }
}

/** Task type names the server accepts. */
export const TASK_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,199}$/;

/**
 * Marks a module's handlers for `weft worker <module>` and types them; returns them unchanged.
 * Export the result as default (or as `handlers`).
 */
export function defineWorker<T extends WorkerHandlers>(handlers: T): T {
  return handlers;
}

/** Why `value` is not a handler map, or undefined when it is one. */
export function handlersProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'expected an object mapping task types to handler functions';
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return 'the handler map is empty';
  for (const [type, entry] of entries) {
    if (!TASK_TYPE_PATTERN.test(type)) return `'${type}' is not a valid task type name`;
    const handler = typeof entry === 'function' ? entry : (entry as Partial<WorkerHandlerDefinition> | null)?.handler;
    if (typeof handler !== 'function') return `'${type}' has no handler function`;
  }
  return undefined;
}

/** Every handler as a definition, keyed by type; throws a TypeError for an unusable map. */
export function normalizeHandlers(handlers: WorkerHandlers): Map<string, WorkerHandlerDefinition> {
  const problem = handlersProblem(handlers);
  if (problem) throw new TypeError(`handlers: ${problem}`);
  return new Map(
    Object.entries(handlers).map(([type, entry]) => [type, typeof entry === 'function' ? { handler: entry } : entry]),
  );
}

/**
 * What a handler's throw reports: `NonRetryableError` (by class, or by name when the package is
 * loaded twice) is not retryable, anything else is.
 */
export function failureOf(error: unknown): TaskFailure {
  if (error instanceof Error) {
    const retryable = !(error instanceof NonRetryableError || error.name === 'NonRetryableError');
    return { message: error.message || error.name, retryable };
  }
  return { message: String(error), retryable: true };
}
