import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Artifacts } from '../artifacts/artifacts.js';
import { nowIso } from '../ids.js';
import { isItemClaim, itemRunKey } from '../items/for-each.js';
import { SecretVault } from '../secrets/secret-vault.js';
import type { ExecutionRow } from '../store/database-schema.js';
import type { ClaimedStep } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import type { EngineLock } from '../store/store-dialect.js';
import { claimDueWork } from './claim-work.js';
import {
  type CompiledWorkflow,
  CompiledWorkflowCache,
  compiledVersionOf,
  compiledWorkflowOf,
} from './compiled-workflow.js';
import { holdEngineLock } from './engine-lock.js';
import { type EngineOptions, nodeIdOf } from './engine-options.js';
import { EngineSettles } from './engine-settles.js';
import type { PreparedExecution, StartExecution } from './lifecycle.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from './output-cap.js';
import type { SettleEnvironment, SettleRequest, SettleResult } from './settle.js';
import { SettleQueue } from './settle-queue.js';
import { StartBatcher } from './start-batcher.js';
import type { StartClaimRoom } from './start-claims.js';
import { runClaimedStep } from './step-runner.js';
import { type AfterSweep, afterSweep, sweepOnce } from './sweep.js';
import { WorkflowHeadCache } from './workflow-heads.js';
import { WorkspaceSlots } from './workspace-slots.js';

/**
 * The engine of one process. It claims due steps under a lease, runs their handlers, and settles
 * the outcomes in batched transactions that also queue (and claim, for itself) the steps that
 * became ready, so a chain advances without a poll in between. It holds nothing only in memory:
 * after a crash, expired leases hand running steps to any process.
 */

export type { EngineOptions };

export class Engine {
  /** This process's node id (see `EngineOptions.nodeId`). */
  readonly nodeId: string;
  /** The lease owner of the steps this engine runs: `engine:<nodeId>:<pid>:<random>`. */
  readonly owner: string;
  /** This engine's share of the engine lock while it runs (see `EngineLock`). */
  #engineLock: EngineLock | undefined;
  /** Workspace secrets under this process's WEFT_SECRETS_KEY (the routes and task hand-out use it too). */
  readonly secrets: SecretVault;
  /** Artifacts of executions (src/artifacts/), for handlers and the API; absent without a folder. */
  readonly artifacts: Artifacts | undefined;
  readonly #store: Store;
  readonly #options: Required<
    Omit<EngineOptions, 'store' | 'secrets' | 'nodeId' | 'maxWorkflowDepth' | 'maxOutputBytes' | 'artifacts'>
  >;
  readonly #maxWorkflowDepth: number | undefined;
  /** WEFT_MAX_OUTPUT_BYTES: outputs over it fail their attempt (output-cap.ts); the task routes read it too. */
  readonly maxOutputBytes: number;
  readonly #workflows = new CompiledWorkflowCache();
  /** Workflow heads the start routes read, kept between starts and checked at insert. */
  readonly workflowHeads = new WorkflowHeadCache();
  /** Abort controllers of the steps running here, by `execution/step`. */
  readonly #running = new Map<string, AbortController>();
  /** Outcomes of the attempts run here, waiting to be settled. */
  readonly #outcomes: SettleQueue;
  #pumping = false;
  #pumpAgain = false;
  /** The claim loop under way, awaited by `stop` so nothing it claims starts after `stop` returned. */
  #pumpRun: Promise<void> | undefined;
  #stopped = true;
  /** Set once `stop` returned: the store may be closed, so nothing may be written or retried. */
  #halted = false;
  #timers: NodeJS.Timeout[] = [];
  #wakeTimer: NodeJS.Timeout | undefined;
  #wakeAt = Number.POSITIVE_INFINITY;
  #unlisten: (() => Promise<void>) | undefined;
  #idle: Array<() => void> = [];
  readonly #starts: StartBatcher;
  readonly #settles: EngineSettles;
  /**
   * Steps claimed here while every slot was taken (a claim, a start batch and a settle read the
   * same free room at once): leased, waiting for a slot instead of running past
   * WEFT_WORKER_CONCURRENCY; handed back to the queue if the engine stops first.
   */
  readonly #held: ClaimedStep[] = [];
  /**
   * Whether the claim also looks for due `for_each` items. Chains and fan-outs have none, and
   * the item claim would be one more statement per claim (a round trip on PostgreSQL): it runs
   * after an item or a for_each step ran here, and after each sweep (every WEFT_POLL_INTERVAL_MS,
   * which bounds how late items queued by another process or due after a retry delay start here),
   * until a claim finds fewer items than it had room for.
   */
  #itemsMaybeDue = true;
  /** Bumped by `#itemsMayBeDue`, so a claim under way does not clear a newer hint. */
  #itemsGeneration = 0;
  /** Set when due work may be waiting for capacity here; a finished step then pumps again. */
  #backlog = true;
  /** Types this engine claims: built-ins and plugins (handler or not); others are for workers. */
  readonly #claims: { types: string[] };
  readonly #workListeners = new Set<() => void>();
  /** Steps running here per workspace, for the per-workspace share of the slots. */
  readonly #slots: WorkspaceSlots;
  /**
   * Set when a claim that left out full workspaces found nothing else: until work is announced
   * (or the poll), claiming again would only rescan their backlog, so a freed slot skips it.
   */
  #othersIdle = false;

  constructor(options: EngineOptions) {
    this.#store = options.store;
    this.nodeId = nodeIdOf(options.nodeId ?? os.hostname());
    this.owner = `engine:${this.nodeId}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.secrets = options.secrets ?? new SecretVault(undefined);
    this.artifacts = options.artifacts;
    this.#maxWorkflowDepth = options.maxWorkflowDepth;
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.#options = {
      taskTypes: options.taskTypes,
      logger: options.logger,
      config: options.config,
      concurrency: options.concurrency ?? 200,
      leaseMs: options.leaseMs ?? 30_000,
      pollMs: options.pollMs ?? 1000,
      workspaceSlotShare: options.workspaceSlotShare ?? 80,
      settleInOneStatement: options.settleInOneStatement ?? true,
    };
    this.#slots = new WorkspaceSlots(this.#options.concurrency, this.#options.workspaceSlotShare);
    this.#claims = {
      types: options.taskTypes
        .list()
        .filter((descriptor) => this.claimsType(descriptor.type))
        .map((descriptor) => descriptor.type),
    };
    this.#settles = new EngineSettles({
      store: this.#store,
      owner: this.owner,
      oneStatement: this.#options.settleInOneStatement,
      room: (freed) => this.#room(freed),
      environment: (store, room, owner, worker) => this.#environment(store, room, owner, worker),
      apply: (result) => this.#apply(result),
    });
    this.#outcomes = new SettleQueue({
      settle: (batch) => this.#settles.settle(batch),
      apply: (result) => this.#apply(result),
      isUnavailable: (error) => this.#store.isUnavailableError(error),
      stopped: () => this.#stopped,
      logger: this.#options.logger,
    });
    this.#starts = new StartBatcher(this.#store, {
      // Not before the engine lock is held (start): an engine alone first takes back old leases.
      room: () => (this.#stopped || !this.#engineLock ? undefined : this.#environment(this.#store, this.#room(0))),
      inserted: (claimed, leftWork) => {
        // After `stop` returned the store may be closed: the leases expire, the steps run again.
        if (!this.#halted) for (const step of claimed) this.#dispatch(step);
        if (leftWork) this.wake();
      },
    });
  }

  /**
   * Calls `listener` whenever work is announced (steps queued anywhere, on PostgreSQL by any
   * process); waiting task polls use it. Returns the unsubscribe.
   */
  onWork(listener: () => void): () => void {
    this.#workListeners.add(listener);
    return () => this.#workListeners.delete(listener);
  }

  /** Whether this engine runs steps of `type` (else external workers poll for them). */
  claimsType(type: string): boolean {
    // Built-ins without a handler (`workflow`, run by src/children/; `wait_for_signal`, by
    // src/signals/) are the engine's: it runs them rather than leaving them to a worker.
    const descriptor = this.#options.taskTypes.get(type);
    return descriptor !== undefined && (descriptor.handler !== undefined || descriptor.source === 'builtin');
  }

  /** Starts listening, polling and renewing leases. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#halted = false;
    this.#engineLock ??= await this.#holdEngineLock();
    this.#unlisten = await this.#store.notifier.listen((channel, payload) => {
      if (channel === 'weft_work') {
        this.wake();
        for (const listener of this.#workListeners) listener();
      } else if (channel === 'weft_cancel') this.abortExecution(payload);
    });
    const poll = setInterval(() => this.#sweep(), this.#options.pollMs);
    const renew = setInterval(() => this.#renewLeases(), Math.max(100, Math.floor(this.#options.leaseMs / 3)));
    this.#timers.push(poll, renew);
    this.#sweep();
  }

  /**
   * Stops: no new claims, running handlers finish (up to `graceMs`, then they are aborted and their
   * leases left to expire), pending outcomes are written.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    if (this.#wakeTimer) clearTimeout(this.#wakeTimer);
    await this.#unlisten?.();
    // A claim or a settle under way may still hand steps to this process; they are waited for
    // like the others (a settle that began before the stop was told there is room).
    await this.#pumpRun;
    await this.#outcomes.flushing;
    await this.#starts.flushing;
    if (this.#running.size > 0 && !(await this.#waitIdle(graceMs))) {
      // Handlers still running are interrupted; their steps go back to the queue (released).
      for (const controller of this.#running.values()) controller.abort(new Error('the process is stopping'));
      await this.#waitIdle(2000);
    }
    // Held steps never started: back to the queue, their retry budget untouched.
    for (const step of this.#held.splice(0))
      this.#outcomes.push({ step, outcome: { kind: 'released' }, endedAt: nowIso() });
    await this.#outcomes.flushing;
    // Bounded: with the database gone the leases expire and the outcomes are redone elsewhere.
    await this.#outcomes.drain(10);
    this.#halted = true;
    await this.#engineLock?.release();
    this.#engineLock = undefined;
  }

  /** Joins the engine lock before the first claim (see `holdEngineLock` in engine-lock.ts). */
  #holdEngineLock(): Promise<EngineLock | undefined> {
    return holdEngineLock(this.#store, this.nodeId, this.owner, this.#options.logger, (execution, tx) =>
      this.workflowOf(execution, tx),
    );
  }

  /** Resolves true once no handler runs here, or false after `ms`. */
  async #waitIdle(ms: number): Promise<boolean> {
    if (this.#running.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.#idle.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const result = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    return result;
  }

  /** Asks the engine to look for due work soon (coalesced). */
  wake(): void {
    // New work may belong to a workspace the last claim did not find.
    this.#othersIdle = false;
    this.#wakeUp();
  }

  /** Pumps again for room that freed up here (no new work announced). */
  #wakeUp(): void {
    if (this.#stopped) return;
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    setImmediate(() => {
      this.#pumpRun = this.#pump();
    });
  }

  /**
   * Starts an execution. Starts that arrive together are written in one transaction (group
   * commit); a bad input is rejected before anything is written.
   */
  async startExecution(request: StartExecution): Promise<ExecutionRow> {
    return (await this.#starts.start(request)).execution;
  }

  /** `startExecution`, answering the rows as inserted: the execution and its steps. */
  startExecutionRows(request: StartExecution): Promise<PreparedExecution> {
    return this.#starts.start(request);
  }

  /** Aborts the handlers of an execution's steps running in this process. */
  abortExecution(executionId: string, stepIds?: readonly string[]): void {
    for (const [key, controller] of this.#running) {
      const [execution, attemptKey] = key.split('/');
      const step = attemptKey?.split('#')[0] ?? '';
      if (execution === executionId && (!stepIds || stepIds.includes(step))) {
        controller.abort(new Error('the execution was cancelled'));
      }
    }
  }

  /**
   * The compiled workflow of an execution (cached). Inside a transaction pass its store: on
   * SQLite a query on the root store would wait for the transaction's connection forever.
   */
  workflowOf(
    execution: Pick<ExecutionRow, 'id' | 'workflow_id' | 'workflow_version' | 'adhoc_definition'>,
    store: Store = this.#store,
  ) {
    return compiledWorkflowOf(store, this.#workflows, execution);
  }

  /**
   * The compiled definition of a stored workflow version (cached: versions never change);
   * undefined when the version does not exist.
   */
  compiledVersion(workflowId: string, version: number): Promise<CompiledWorkflow | undefined> {
    return compiledVersionOf(this.#store, this.#workflows, workflowId, version);
  }

  /**
   * Slots free here: `concurrency` less the handlers running, and less the outcomes waiting to be
   * settled past as many again. Settles are batched, so a batch's worth of outcomes waiting is
   * normal and claims go on meanwhile (a fan-out's children keep starting); past that, settles
   * have fallen behind (starts claiming their steps at once, say) and claims wait for them
   * instead of leasing steps faster than they can be settled.
   */
  get #capacity(): number {
    return this.#capacityAfter(0);
  }

  /** `#capacity` once `settled` of the outcomes waiting here are settled. */
  #capacityAfter(settled: number): number {
    const unsettled = this.#outcomes.size - settled;
    const concurrency = this.#options.concurrency;
    return concurrency - this.#running.size - this.#held.length - Math.max(0, unsettled - concurrency);
  }

  /** The room a claim may fill now (none once stopping), `freed` as in `#capacityAfter`. */
  #room = (freed: number): number => (this.#stopped ? 0 : Math.max(0, this.#capacityAfter(freed)));

  async #pump(): Promise<void> {
    try {
      while (!this.#stopped && this.#capacity > 0) {
        this.#pumpAgain = false;
        const { limit, full } = this.#slots.claimBounds(this.#capacity);
        if (full.length > 0 && this.#othersIdle) break;
        const claims = full.length === 0 ? this.#claims : { ...this.#claims, excludeWorkspaceIds: full };
        const now = Date.now();
        const generation = this.#itemsGeneration;
        const round = { owner: this.owner, now, leaseMs: this.#options.leaseMs, limit, filter: claims };
        const { claimed, itemsExhausted } = await this.#store.transaction((tx) =>
          claimDueWork(tx, { ...round, withItems: this.#itemsMaybeDue }),
        );
        // None left to claim, unless an item or for_each step ran here meanwhile.
        if (itemsExhausted && generation === this.#itemsGeneration) this.#itemsMaybeDue = false;
        for (const step of claimed) this.#dispatch(step);
        // Workspaces left out at their share may have due work: a finished step pumps again.
        this.#backlog = claimed.length === limit || full.length > 0;
        if (full.length > 0 && claimed.length < limit && !this.#pumpAgain) this.#othersIdle = true;
        if (claimed.length < limit && !this.#pumpAgain) break;
      }
    } catch (error) {
      this.#options.logger.error({ err: error }, 'claiming steps failed; the poll will retry');
    } finally {
      this.#pumping = false;
      if (this.#pumpAgain) this.#wakeUp();
    }
  }

  #wakeAtTime(at: number): void {
    if (this.#stopped || at >= this.#wakeAt) return;
    if (this.#wakeTimer) clearTimeout(this.#wakeTimer);
    this.#wakeAt = at;
    this.#wakeTimer = setTimeout(
      () => {
        this.#wakeAt = Number.POSITIVE_INFINITY;
        this.#wakeTimer = undefined;
        // Due work may be an item whose retry delay ran out.
        this.#itemsMayBeDue();
        this.wake();
      },
      Math.max(0, at - Date.now()),
    );
  }

  /** Item work may have become due: its claim runs again (see `#itemsMaybeDue`). */
  #itemsMayBeDue(): void {
    this.#itemsMaybeDue = true;
    this.#itemsGeneration += 1;
  }

  #dispatch(step: ClaimedStep): void {
    if (this.#running.size >= this.#options.concurrency) {
      this.#held.push(step);
      return;
    }
    // Keyed by attempt: after a lease recovery this process may hold an old and a new attempt.
    const key = isItemClaim(step) ? itemRunKey(step) : `${step.execution_id}/${step.step_id}#${step.attempts}`;
    const controller = new AbortController();
    this.#running.set(key, controller);
    const workspaceId = step.workspace_id;
    this.#slots.take(workspaceId);
    void this.#run(step, controller).finally(() => {
      this.#running.delete(key);
      this.#slots.give(workspaceId);
      const next = this.#stopped ? undefined : this.#held.shift();
      if (next) this.#dispatch(next);
      if (this.#running.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
      if (!this.#stopped && this.#backlog) this.#wakeUp();
    });
  }

  async #run(step: ClaimedStep, controller: AbortController): Promise<void> {
    let outcome: SettleRequest['outcome'];
    try {
      const workflow = await this.workflowOf({ ...step, id: step.execution_id });
      // An item's settle may queue the next items, a for_each step's run writes its items.
      if (isItemClaim(step) || workflow.steps.get(step.step_id)?.for_each !== undefined) this.#itemsMayBeDue();
      outcome = await runClaimedStep(step, workflow, controller.signal, {
        store: this.#store,
        taskTypes: this.#options.taskTypes,
        config: this.#options.config,
        secrets: this.secrets,
        artifacts: this.artifacts,
      });
    } catch (error) {
      outcome = { kind: 'failed', input: null, error: { message: (error as Error).message, retryable: true } };
    }
    // Interrupted by a shutdown, not failed: the step goes back to the queue for any process.
    // (An output that is not JSON, or over the cap, fails in the settle: output-cap.ts.)
    if (this.#stopped && controller.signal.aborted) outcome = { kind: 'released' };
    if (this.#halted) {
      // A handler that ignored its abort and outlived `stop`: the store may be closed, and retrying
      // against it would keep the process alive forever. The lease expires; the step runs again.
      this.#options.logger.warn(
        { execution: step.execution_id, step: step.step_id },
        'an attempt ended after the engine stopped; its lease will expire and the step runs again',
      );
      return;
    }
    this.#outcomes.push({ step, outcome, endedAt: nowIso() });
  }

  /** What a settle (or a start batch) needs of this engine, with the `room` it may claim. */
  #environment(store: Store, room: number, owner = this.owner, worker = owner): SettleEnvironment & StartClaimRoom {
    return {
      owner,
      worker,
      claimOwner: this.owner,
      leaseMs: this.#options.leaseMs,
      capacity: room,
      workspaceRoom: (workspaceId) => this.#slots.room(workspaceId),
      claimsType: (type) => this.claimsType(type),
      ...(this.#maxWorkflowDepth === undefined ? {} : { maxWorkflowDepth: this.#maxWorkflowDepth }),
      maxOutputBytes: this.maxOutputBytes,
      workflowOf: (execution) => this.workflowOf(execution, store),
    };
  }

  /**
   * Settles outcomes of attempts leased to an external worker's task in one transaction that
   * first runs `check` (which locks and verifies the lease, or throws); see `EngineSettles.leased`.
   */
  settleLeased<T>(
    check: (tx: Store) => Promise<{ requests: SettleRequest[]; value: T; owner: string; worker: string }>,
  ): Promise<T> {
    return this.#settles.leased(check);
  }

  #apply(result: SettleResult): void {
    for (const step of result.dispatch) this.#dispatch(step);
    if (result.queuedElsewhere > 0) {
      this.#backlog = true;
      this.wake();
    }
    for (const aborted of result.aborted) this.abortExecution(aborted.executionId, aborted.stepIds);
    if (result.wakeAt !== undefined) this.#wakeAtTime(result.wakeAt);
  }

  #renewLeases(): void {
    // Outcomes waiting to be settled hold their leases too.
    if (this.#running.size + this.#outcomes.size === 0) return;
    const until = Date.now() + this.#options.leaseMs;
    Promise.all([this.#store.leases.renew(this.owner, until), this.#store.items.renew(this.owner, until)]).catch(
      (error: unknown) => this.#options.logger.warn({ err: error }, 'renewing leases failed'),
    );
  }

  #sweep(): void {
    if (this.#stopped) return;
    const now = Date.now();
    sweepOnce(this.#store, now, this.#claims.types, this.workflowOf.bind(this), this.#options.logger)
      .then(
        (result) => {
          for (const aborted of result.timedOut) this.abortExecution(aborted);
          return afterSweep(result, now);
        },
        (error: unknown): AfterSweep => {
          this.#options.logger.warn({ err: error }, 'sweeping leases and timeouts failed');
          return { claim: true, items: true, wakeAt: undefined };
        },
      )
      .then(({ claim, items, wakeAt }) => {
        // Items queued by other processes, recovered or due after a retry delay: claimed from here on.
        if (items) this.#itemsMayBeDue();
        if (wakeAt !== undefined) this.#wakeAtTime(wakeAt);
        if (!claim) return;
        this.#backlog = true;
        this.wake();
      });
  }
}
