import { WeftApiError } from './api-error.js';
import { createClient, type WeftClient } from './client.js';
import { backoffDelay, deferred, isLeaseLost, isTransient, sleep } from './retry.js';
import type { Task, TaskFailure } from './types.js';
import { failureOf, TaskAbortedError, type TaskAbortReason, type WorkerHandlerDefinition } from './worker-handlers.js';
import { errorFields, type WorkerLogger } from './worker-logger.js';
import { type StopOptions, type WorkerOptions, workerSettings } from './worker-options.js';

/**
 * An external task worker: declares its task types, long-polls the server for tasks, runs each
 * with its handler while heartbeats keep the lease, and reports the result. Glossary: a *task* is
 * one attempt of one step, leased to one worker until `lease_expires_at`; a heartbeat extends the
 * lease; a worker that loses it (expiry, reset, cancel) drops the task without reporting.
 */

/** What the worker does with one leased task. `phase` only moves forward. */
interface ActiveTask {
  task: Task;
  controller: AbortController;
  /** handling: the handler runs; reporting: sending its result; done: handed back, reported or dropped. */
  phase: 'handling' | 'reporting' | 'done';
  heartbeat: NodeJS.Timeout | undefined;
  /** A heartbeat request is in flight (a slow server must not pile them up). */
  beating: boolean;
  /** Resolves when the server has the outcome (reported, released) or the task was dropped. */
  handedBack: Promise<void>;
  finish: () => void;
}

const REPORT_ATTEMPTS = 5;
const REPORT_BASE_MS = 500;
const POLL_BASE_MS = 1000;
const POLL_MAX_MS = 30_000;
/** Seconds after which a request without an answer counts as failed (a poll gets its wait on top). */
const REQUEST_TIMEOUT_S = 30;

/** A signal that gives up on a request that hangs (a dead connection without a reset). */
function timeout(): { signal: AbortSignal } {
  return { signal: AbortSignal.timeout(REQUEST_TIMEOUT_S * 1000) };
}

/** A worker created by `createWorker`. */
export class WeftWorker {
  /** The id the server records for this worker's tasks. */
  readonly id: string;
  /** The types it polls for. */
  readonly types: readonly string[];
  readonly #client: WeftClient;
  readonly #definitions: Map<string, WorkerHandlerDefinition>;
  readonly #concurrency: number;
  readonly #pollWaitSeconds: number;
  readonly #heartbeatEvery: number | undefined;
  readonly #declare: boolean;
  readonly #log: WorkerLogger;
  readonly #active = new Map<string, ActiveTask>();
  /** Aborted by stop(): no new poll, no more backoff waits or declaration retries. */
  readonly #stopping = new AbortController();
  #started = false;
  #loop: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #waiters: (() => void)[] = [];

  constructor(options: WorkerOptions) {
    const settings = workerSettings(options);
    this.id = settings.id;
    this.types = settings.types;
    this.#definitions = settings.definitions;
    this.#concurrency = settings.concurrency;
    this.#pollWaitSeconds = settings.pollWaitSeconds;
    this.#heartbeatEvery = settings.heartbeatEvery;
    this.#declare = settings.declare;
    this.#log = settings.logger;
    this.#client = createClient(options);
  }

  /** Tasks whose handlers are running now. */
  get running(): number {
    return this.#active.size;
  }

  /**
   * Declares the types (unless `declare: false`), then starts polling in the background.
   * Transient errors while declaring (server not up yet, 5xx) are retried until stop();
   * other errors (a bad key, a built-in type name: 409) reject.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('the worker was already started');
    this.#started = true;
    if (this.#declare) {
      for (const type of this.types) await this.#declareType(type);
    }
    if (this.#stopping.signal.aborted) return;
    this.#loop = this.#pollLoop();
  }

  /**
   * Stops polling: no new poll starts, and the one in flight is let return (at most
   * `pollWaitSeconds`; the tasks it brings are released at once). Running handlers may finish
   * within `graceMs`; then the others are aborted and their tasks released to the queue. Resolves
   * when every task is reported or handed back and the last poll returned; handlers that ignore
   * their signal may still be running.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopped ??= this.#shutdown(options.graceMs ?? 10_000);
    return this.#stopped;
  }

  /** Resolves when no handler is running (at once if none is). */
  async onIdle(): Promise<void> {
    while (this.#active.size > 0) await this.#nextChange();
  }

  async #declareType(type: string): Promise<void> {
    const definition = this.#definitions.get(type);
    const body = {
      ...(definition?.description === undefined ? {} : { description: definition.description }),
      ...(definition?.inputSchema === undefined ? {} : { input_schema: definition.inputSchema }),
      ...(definition?.outputSchema === undefined ? {} : { output_schema: definition.outputSchema }),
      ...(definition?.leaseSeconds === undefined ? {} : { lease_seconds: definition.leaseSeconds }),
    };
    for (let failures = 1; !this.#stopping.signal.aborted; failures++) {
      try {
        await this.#client.taskTypes.declare(type, body, {
          signal: AbortSignal.any([this.#stopping.signal, timeout().signal]),
        });
        this.#log.debug({ type }, 'task type declared');
        return;
      } catch (error) {
        if (this.#stopping.signal.aborted) return;
        if (!isTransient(error)) throw error;
        const delay = backoffDelay(failures, POLL_BASE_MS, POLL_MAX_MS);
        this.#log.warn({ type, retry_in_ms: delay, ...errorFields(error) }, 'declaring the task type failed');
        await sleep(delay, this.#stopping.signal);
      }
    }
  }

  async #pollLoop(): Promise<void> {
    let failures = 0;
    while (!this.#stopping.signal.aborted) {
      const free = this.#concurrency - this.#active.size;
      if (free <= 0) {
        await this.#nextChange();
        continue;
      }
      let tasks: Task[];
      try {
        tasks = await this.#client.tasks.poll(
          {
            worker_id: this.id,
            types: [...this.types],
            wait_seconds: this.#pollWaitSeconds,
            max_tasks: Math.min(free, 100),
          },
          // Never aborted by stop() (see #shutdown); the timeout only ends a request that hangs.
          { signal: AbortSignal.timeout((this.#pollWaitSeconds + REQUEST_TIMEOUT_S) * 1000) },
        );
        failures = 0;
      } catch (error) {
        if (this.#stopping.signal.aborted) break;
        failures++;
        const delay = backoffDelay(failures, POLL_BASE_MS, POLL_MAX_MS);
        // A 4xx (bad key, unknown type) will not heal by itself: say it louder than an outage.
        const level = isTransient(error) ? 'warn' : 'error';
        this.#log[level]({ retry_in_ms: delay, ...errorFields(error) }, 'polling failed');
        await sleep(delay, this.#stopping.signal);
        continue;
      }
      for (const task of tasks) this.#run(task);
    }
  }

  /** Runs one task in the background. */
  #run(task: Task): void {
    const { promise, resolve } = deferred();
    const entry: ActiveTask = {
      task,
      controller: new AbortController(),
      phase: 'handling',
      heartbeat: undefined,
      beating: false,
      handedBack: promise,
      finish: resolve,
    };
    this.#active.set(task.id, entry);
    const definition = this.#definitions.get(task.type);
    // A poll answered after stop() began, or a type this worker has no handler for: hand it back.
    if (this.#stopping.signal.aborted || !definition) {
      void this.#handBack(entry, 'shutdown').then(() => this.#forget(entry));
      return;
    }
    this.#log.debug({ task_id: task.id, type: task.type, attempt: task.attempt }, 'task started');
    const every = this.#heartbeatEvery ?? (task.lease_seconds * 1000) / 3;
    entry.heartbeat = setInterval(() => void this.#heartbeat(entry), Math.max(10, every));
    void this.#execute(entry, definition)
      .catch((error: unknown) =>
        this.#log.error({ task_id: task.id, ...errorFields(error) }, 'running the task failed'),
      )
      .finally(() => {
        entry.finish();
        this.#forget(entry);
      });
  }

  async #execute(entry: ActiveTask, definition: WorkerHandlerDefinition): Promise<void> {
    const { task } = entry;
    let outcome: { output: unknown } | { failure: TaskFailure };
    try {
      const output = await definition.handler(task.input, {
        signal: entry.controller.signal,
        taskId: task.id,
        executionId: task.execution_id,
        stepId: task.step_id,
        attempt: task.attempt,
        workflowId: task.workflow_id,
        type: task.type,
        index: task.index,
        putArtifact: (name, data, contentType) =>
          this.#client.artifacts.put(task.execution_id, name, data, {
            contentType,
            stepId: task.step_id,
            signal: entry.controller.signal,
          }),
      });
      outcome = { output };
    } catch (error) {
      outcome = { failure: failureOf(error) };
    }
    // Dropped (cancel, lost lease) or released by stop(): the server no longer wants this result.
    if (entry.phase !== 'handling') return;
    entry.phase = 'reporting';
    clearInterval(entry.heartbeat);
    if ('output' in outcome) await this.#complete(entry, outcome.output);
    else await this.#report(entry, 'fail', () => this.#client.tasks.fail(task.id, outcome.failure, timeout()));
    entry.phase = 'done';
    entry.finish();
  }

  async #complete(entry: ActiveTask, output: unknown): Promise<void> {
    const rejected = await this.#report(entry, 'complete', () =>
      this.#client.tasks.complete(entry.task.id, output, timeout()),
    );
    if (rejected === undefined) return;
    // The server refused the output itself (400 invalid, 413 too large): retrying cannot fix it,
    // so the attempt fails for good rather than waiting out the lease.
    const failure = { message: `the server rejected the output: ${rejected.problem?.detail ?? rejected.message}` };
    await this.#report(entry, 'fail', () =>
      this.#client.tasks.fail(
        entry.task.id,
        { ...failure, retryable: false, details: { errors: rejected.errors } },
        timeout(),
      ),
    );
  }

  /**
   * Sends a result, retrying transient errors a few times with backoff. A lost lease is logged and
   * dropped. Returns the error when the server rejected a complete's output (400, 413), else undefined.
   */
  async #report(
    entry: ActiveTask,
    action: 'complete' | 'fail' | 'release',
    send: () => Promise<unknown>,
  ): Promise<WeftApiError | undefined> {
    const fields = { task_id: entry.task.id, type: entry.task.type, action };
    for (let attempt = 1; ; attempt++) {
      try {
        await send();
        this.#log.debug(fields, `task ${action}d`);
        return undefined;
      } catch (error) {
        if (isLeaseLost(error)) {
          this.#log.info(fields, `the task lease was lost; ${action} dropped`);
          return undefined;
        }
        if (action === 'complete' && error instanceof WeftApiError && [400, 413].includes(error.status)) return error;
        if (!isTransient(error) || attempt >= REPORT_ATTEMPTS) {
          this.#log.error({ ...fields, attempts: attempt, ...errorFields(error) }, `reporting the task failed`);
          return undefined;
        }
        const delay = backoffDelay(attempt, REPORT_BASE_MS, REPORT_BASE_MS * 2 ** REPORT_ATTEMPTS);
        this.#log.warn({ ...fields, retry_in_ms: delay, ...errorFields(error) }, 'reporting the task failed; retrying');
        await sleep(delay);
      }
    }
  }

  async #heartbeat(entry: ActiveTask): Promise<void> {
    if (entry.phase !== 'handling' || entry.beating) return;
    entry.beating = true;
    try {
      const result = await this.#client.tasks.heartbeat(entry.task.id, timeout());
      if (result.cancel_requested) this.#drop(entry, 'cancelled');
    } catch (error) {
      if (isLeaseLost(error)) this.#drop(entry, 'lease_lost');
      // The next heartbeat tries again; if the lease runs out meanwhile, the report answers LEASE_LOST.
      else this.#log.warn({ task_id: entry.task.id, ...errorFields(error) }, 'heartbeat failed');
    } finally {
      entry.beating = false;
    }
  }

  /** Stops the handler of a task the server took back; nothing is reported. */
  #drop(entry: ActiveTask, reason: TaskAbortReason): void {
    if (entry.phase !== 'handling') return;
    entry.phase = 'done';
    clearInterval(entry.heartbeat);
    entry.controller.abort(new TaskAbortedError(reason));
    this.#log.info({ task_id: entry.task.id, type: entry.task.type, reason }, 'task dropped');
    entry.finish();
  }

  /** Aborts the handler and releases the task to the queue without using up an attempt. */
  async #handBack(entry: ActiveTask, reason: TaskAbortReason): Promise<void> {
    entry.phase = 'done';
    clearInterval(entry.heartbeat);
    entry.controller.abort(new TaskAbortedError(reason));
    await this.#report(entry, 'release', () => this.#client.tasks.release(entry.task.id, timeout()));
    entry.finish();
  }

  #forget(entry: ActiveTask): void {
    this.#active.delete(entry.task.id);
    this.#notify();
  }

  /** Resolves at the next change of the running set, or at stop(). */
  #nextChange(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#stopping.abort();
    this.#notify();
    const handedBack = () => Promise.all([...this.#active.values()].map((entry) => entry.handedBack));
    const graceOver = new AbortController();
    await Promise.race([handedBack(), sleep(graceMs, graceOver.signal)]);
    graceOver.abort();
    await Promise.all(
      [...this.#active.values()].map((entry) =>
        entry.phase === 'handling' ? this.#handBack(entry, 'shutdown') : entry.handedBack,
      ),
    );
    // The poll in flight is let return (within pollWaitSeconds) instead of being aborted: a task
    // claimed just as the request went away would be lost until its lease expired, which counts
    // as a failed attempt. (Aborting also leaves Node's fetch with an idle connection that holds
    // up the server's close for a minute.) Whatever it brings is released at once (#run).
    await this.#loop;
    await handedBack();
    this.#log.info({ worker_id: this.id }, 'worker stopped');
  }
}

export type { StopOptions, WorkerOptions };

/** Creates a worker; call `start()` to declare its types and begin polling. */
export function createWorker(options: WorkerOptions): WeftWorker {
  return new WeftWorker(options);
}
