import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { WeftConfig } from '../config.js';
import { type EgressClient, egressClientFor } from '../egress/egress-client.js';
import { type EgressPolicy, egressPolicyFromConfig } from '../egress/egress-policy.js';
import { retryDelayMs } from '../engine/scheduling-rules.js';
import { nowIso } from '../ids.js';
import { redactUrl } from '../logger.js';
import { recordWebhookDelivery } from '../metrics/metrics.js';
import type {
  AttemptOutcome,
  ClaimedDelivery,
  DeliveryNext,
} from '../store/repositories/webhook-delivery-repository.js';
import type { Store } from '../store/store.js';
import { sendWebhookAttempt, type WebhookSendOutcome } from './webhook-sender.js';
import { generateWebhookSecret } from './webhook-signing.js';

/**
 * The webhook dispatcher of one process. It claims due deliveries from the outbox under a lease,
 * sends each (signed, bounded by a timeout), records the attempt and either finishes the delivery
 * or schedules the next attempt with exponential backoff and jitter. It is woken when deliveries
 * are queued (`weft_webhooks`, announced at commit by the outbox trigger) and by a timer for the
 * next due retry, capped at the poll interval so deliveries of a process that died are picked up.
 * Nothing lives only in memory: a delivery whose sender died is due again when its lease ends.
 */

/** Dispatcher settings. */
export interface WebhookDispatcherOptions {
  store: Store;
  logger: FastifyBaseLogger;
  /** Attempts per delivery, the first included. */
  maxAttempts: number;
  /** Delay before the first retry; doubled per attempt, ±25% jitter, capped at an hour. */
  retryBaseMs: number;
  /** Bound of one attempt: connecting, sending, and the answer. */
  timeoutMs: number;
  /** Longest sleep between looks at the outbox. */
  pollMs: number;
  /** Deliveries this process sends at once. */
  concurrency?: number;
  /** The egress policy deliveries go through (WEFT_EGRESS_*); the default policy when absent. */
  egress?: EgressPolicy;
}

/** What one attempt did (for metrics and logs). */
export interface WebhookAttemptReport {
  delivery: ClaimedDelivery;
  outcome: AttemptOutcome;
  /** `delivered`, `failed` (no attempts left) or `pending` (retried later). */
  status: DeliveryNext['status'];
}

/** Longest delay between two attempts, whatever the base and attempt number. */
const MAX_RETRY_DELAY_MS = 3_600_000;
/** Lease beyond the attempt's timeout: room for recording the answer before anyone may retry. */
const LEASE_MARGIN_MS = 5000;

export class WebhookDispatcher {
  readonly owner = `webhooks:${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly #options: Required<Omit<WebhookDispatcherOptions, 'egress'>>;
  readonly #client: EgressClient;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #listeners = new Set<(report: WebhookAttemptReport) => void>();
  #stopped = true;
  #pumping: Promise<void> | undefined;
  #pumpAgain = false;
  #timer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;

  constructor(options: WebhookDispatcherOptions) {
    const { egress, ...rest } = options;
    this.#options = { concurrency: 16, ...rest };
    this.#client = egressClientFor(egress);
  }

  /** How long a claimed attempt is held before another process may take the delivery. */
  get leaseMs(): number {
    return this.#options.timeoutMs + LEASE_MARGIN_MS;
  }

  /** Calls `listener` after every attempt; returns the unsubscribe. */
  onAttempt(listener: (report: WebhookAttemptReport) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts listening for queued deliveries and sends those already due. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#unlisten = await this.#options.store.notifier.listen(() => this.wake(), ['weft_webhooks']);
    this.wake();
  }

  /**
   * Stops claiming; attempts in flight finish (each is bounded by the timeout) and are recorded.
   * Pending deliveries stay in the outbox for the next start or another process.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#unlisten?.();
    await this.#pumping;
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Looks at the outbox soon (coalesced). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = this.#pump().finally(() => {
      this.#pumping = undefined;
      if (this.#pumpAgain) this.wake();
    });
  }

  async #pump(): Promise<void> {
    await nextTurn();
    const { store, logger } = this.#options;
    try {
      while (!this.#stopped && this.#capacity > 0) {
        this.#pumpAgain = false;
        const now = Date.now();
        // A read first: an idle outbox costs one indexed lookup, not a write transaction.
        const due = await store.webhookDeliveries.nextDueAt();
        if (due === undefined || due > now) return this.#sleepUntil(due);
        const limit = Math.min(this.#capacity, 50);
        const claimed = await store.transaction((tx) =>
          tx.webhookDeliveries.claimDue(
            this.owner,
            now,
            now + this.leaseMs,
            limit,
            this.#options.maxAttempts,
            generateWebhookSecret,
          ),
        );
        for (const delivery of claimed) this.#send(delivery);
        if (claimed.length < limit && !this.#pumpAgain) {
          // The rest is due later, or being claimed by another process right now (rows it locked
          // still look due): look again when the earliest is due, but not in a tight loop.
          const next = await store.webhookDeliveries.nextDueAt();
          return this.#sleepUntil(next === undefined ? undefined : Math.max(next, Date.now() + 50));
        }
      }
    } catch (error) {
      logger.error({ err: error }, 'claiming webhook deliveries failed; retrying at the next poll');
      this.#sleepUntil(undefined);
    }
  }

  get #capacity(): number {
    return this.#options.concurrency - this.#inFlight.size;
  }

  /** Wakes at `at` (epoch ms), or after the poll interval if that comes first or nothing is due. */
  #sleepUntil(at: number | undefined): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    const delay = Math.min(this.#options.pollMs, Math.max(0, (at ?? Number.POSITIVE_INFINITY) - Date.now()));
    this.#timer = setTimeout(() => this.wake(), delay);
    this.#timer.unref();
  }

  #send(delivery: ClaimedDelivery): void {
    const task = this.#attempt(delivery).finally(() => {
      this.#inFlight.delete(task);
      this.wake();
    });
    this.#inFlight.add(task);
  }

  async #attempt(delivery: ClaimedDelivery): Promise<void> {
    const { store, logger } = this.#options;
    const outcome = await sendWebhookAttempt(delivery, this.#options.timeoutMs, this.#client);
    const next = this.#next(delivery, outcome);
    // Ids only: a webhook's URL may carry a token (in its path as often as in its query).
    const context = {
      delivery_id: delivery.id,
      webhook_id: delivery.webhook_id,
      workspace_id: delivery.workspace_id,
      execution_id: delivery.execution_id,
      event_type: delivery.event_type,
      attempt: delivery.attempt,
    };
    try {
      const kept = await store.webhookDeliveries.finish(delivery, this.owner, outcome, next);
      if (!kept) logger.warn(context, 'a webhook attempt outlived its lease; another process took the delivery');
    } catch (error) {
      // Left to the lease: the delivery is due again when it ends (at-least-once).
      logger.error({ ...context, err: error }, 'recording a webhook attempt failed; it is retried after its lease');
      return;
    }
    if (next.status !== 'delivered') {
      const failure = { ...context, status_code: outcome.statusCode, error: redactUrl(outcome.error ?? '') };
      if (next.status === 'pending') {
        const retry = new Date(next.nextAttemptAt).toISOString();
        logger.warn({ ...failure, next_attempt_at: retry }, 'webhook delivery failed; retrying');
      } else logger.warn(failure, 'webhook delivery failed for good');
    }
    recordWebhookDelivery(next.status === 'pending' ? 'failed' : next.status === 'failed' ? 'abandoned' : 'delivered');
    for (const listener of this.#listeners) listener({ delivery, outcome, status: next.status });
  }

  #next(delivery: ClaimedDelivery, outcome: WebhookSendOutcome): DeliveryNext {
    if (outcome.error === null) return { status: 'delivered', completedAt: nowIso() };
    // A destination the egress policy refuses is refused again next time: fail it now.
    if (!outcome.retryable || delivery.attempt >= this.#options.maxAttempts) {
      return { status: 'failed', completedAt: nowIso() };
    }
    const delay = retryDelayMs(
      {
        maxAttempts: this.#options.maxAttempts,
        backoff: 'exponential',
        delayMs: this.#options.retryBaseMs,
        maxDelayMs: MAX_RETRY_DELAY_MS,
        jitter: true,
      },
      delivery.attempt,
    );
    return { status: 'pending', nextAttemptAt: Date.now() + delay };
  }
}

/** The dispatcher configured from `WEFT_*` settings (used by `weft serve` and the tests alike). */
export function webhookDispatcherFromConfig(
  store: Store,
  logger: FastifyBaseLogger,
  config: Pick<
    WeftConfig,
    | 'webhookMaxAttempts'
    | 'webhookRetryBaseMs'
    | 'webhookTimeoutMs'
    | 'pollIntervalMs'
    | 'egressAllow'
    | 'egressDeny'
    | 'egressPrivate'
  >,
): WebhookDispatcher {
  return new WebhookDispatcher({
    egress: egressPolicyFromConfig(config),
    store,
    logger,
    maxAttempts: config.webhookMaxAttempts,
    retryBaseMs: config.webhookRetryBaseMs,
    timeoutMs: config.webhookTimeoutMs,
    pollMs: config.pollIntervalMs,
  });
}
