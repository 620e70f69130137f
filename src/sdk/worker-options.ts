import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { ClientOptions } from './client.js';
import { normalizeHandlers, type WorkerHandlerDefinition, type WorkerHandlers } from './worker-handlers.js';
import { stderrLogger, type WorkerLogger } from './worker-logger.js';

/** The options of a worker, their defaults and their checks. */

/** Options of `createWorker`. */
export interface WorkerOptions extends ClientOptions {
  /** Task type -> handler (or handler with its declaration). */
  handlers: WorkerHandlers;
  /** The types to poll for (each needs a handler); default: every type of `handlers`. */
  types?: string[];
  /** Tasks run at once (default 10). */
  concurrency?: number;
  /** Shown in timelines and logs (1..200 characters); default `<host>-<pid>-<random>`. */
  workerId?: string;
  /** How long one poll waits for a task, 0..30 seconds (default 20). */
  pollWaitSeconds?: number;
  /** Milliseconds between heartbeats; default a third of the task's lease. */
  heartbeatEvery?: number;
  /** Default: warnings and errors as plain lines on stderr. */
  logger?: WorkerLogger;
  /** Declare the types with `PUT /task-types/{type}` on start (default true). */
  declare?: boolean;
}

/** Options of `stop`. */
export interface StopOptions {
  /** How long running handlers may finish before they are aborted and their tasks released (default 10000). */
  graceMs?: number;
}

/** The options with defaults applied, checked. */
export interface WorkerSettings {
  id: string;
  types: readonly string[];
  definitions: Map<string, WorkerHandlerDefinition>;
  concurrency: number;
  pollWaitSeconds: number;
  heartbeatEvery: number | undefined;
  declare: boolean;
  logger: WorkerLogger;
}

function checkRange(name: string, value: number, min: number, max: number, integer: boolean): number {
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be ${integer ? 'an integer ' : ''}between ${min} and ${max}, got ${value}`);
  }
  return value;
}

/** Applies defaults and checks the options: a TypeError or RangeError says what is wrong. */
export function workerSettings(options: WorkerOptions): WorkerSettings {
  const definitions = normalizeHandlers(options.handlers);
  const types = options.types ?? [...definitions.keys()];
  if (types.length === 0) throw new TypeError('types: give at least one task type');
  for (const type of types) {
    if (!definitions.has(type)) throw new TypeError(`types: '${type}' has no handler`);
  }
  const id = options.workerId ?? `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.slice(0, 200);
  if (id.length === 0 || id.length > 200) throw new RangeError('workerId must have 1 to 200 characters');
  return {
    id,
    types,
    definitions,
    concurrency: checkRange('concurrency', options.concurrency ?? 10, 1, 1000, true),
    pollWaitSeconds: checkRange('pollWaitSeconds', options.pollWaitSeconds ?? 20, 0.1, 30, false),
    heartbeatEvery:
      options.heartbeatEvery === undefined
        ? undefined
        : checkRange('heartbeatEvery', options.heartbeatEvery, 10, 3_600_000, false),
    declare: options.declare ?? true,
    logger: options.logger ?? stderrLogger(),
  };
}
