import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CommittedLog } from '../store/repositories/execution-log-repository.js';

/**
 * Prometheus metrics of this process (`GET /metrics`). Counters count what this process
 * committed, after the commit, so the sum over all processes sharing a database is the
 * cluster's total and nothing is counted for a transaction that rolled back. Everything is
 * in memory: recording never touches the database, so the engine's hot path pays a few map
 * updates per settle. The registry is Weft's own, not prom-client's global one, so an
 * application embedding Weft keeps its metrics apart.
 */

/** The registry `GET /metrics` renders. */
export const metricsRegistry = new Registry();

/** Distinct task types this process labels series with; later ones are counted as `other`. */
export const TASK_TYPE_LABEL_LIMIT = 100;

/** The `type` label value of series beyond `TASK_TYPE_LABEL_LIMIT`. */
export const OTHER_TASK_TYPE = 'other';

/**
 * Task types are chosen by tenants, and each distinct one is a set of series in every scrape and
 * in Prometheus: the first `TASK_TYPE_LABEL_LIMIT` seen keep their name, the rest share `other`,
 * so a workspace declaring thousands of types cannot bloat the exposition or the scraper.
 */
const labelledTypes = new Set<string>();

function typeLabel(type: string): string {
  if (labelledTypes.has(type)) return type;
  if (labelledTypes.size >= TASK_TYPE_LABEL_LIMIT) return OTHER_TASK_TYPE;
  labelledTypes.add(type);
  return type;
}

const executionsStarted = new Counter({
  name: 'weft_executions_started_total',
  help: 'Executions started (created running, or started from pending) by this process.',
  registers: [metricsRegistry],
});

const executionsFinished = new Counter({
  name: 'weft_executions_finished_total',
  help: 'Executions that ended, by final status (completed, failed, cancelled). A resumed execution counts again when it ends again.',
  labelNames: ['status'],
  registers: [metricsRegistry],
});

const stepDuration = new Histogram({
  name: 'weft_step_duration_seconds',
  help: 'Duration of step attempts from start to outcome, by task type (the first 100 seen, then other) and outcome (completed, failed, lost, interrupted, released, cancelled).',
  labelNames: ['type', 'outcome'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  registers: [metricsRegistry],
});

const queueDepth = new Gauge({
  name: 'weft_queue_depth',
  help: 'Steps of the whole database by current task type (the first 100 seen, then other) and state: ready (queued and due), delayed (queued for a later retry), waiting (durable timer), running. Read at scrape time; every process reports the same value, so aggregate with max, not sum.',
  labelNames: ['type', 'state'],
  registers: [metricsRegistry],
});

const webhookDeliveries = new Counter({
  name: 'weft_webhook_deliveries_total',
  help: 'Webhook delivery attempts by outcome: delivered (2xx), failed (will be retried), abandoned (the last attempt failed).',
  labelNames: ['outcome'],
  registers: [metricsRegistry],
});

const leaseExpiries = new Counter({
  name: 'weft_lease_expiries_total',
  help: 'Leases on running steps that expired and were recovered by this process, by holder: engine (a Weft process died or stalled) or worker (an external worker stopped sending heartbeats).',
  labelNames: ['holder'],
  registers: [metricsRegistry],
});

const executionsQueued = new Gauge({
  name: 'weft_executions_queued',
  help: 'Executions of the whole database waiting for a concurrency slot (status queued). Read at scrape time; every process reports the same value, so aggregate with max, not sum.',
  registers: [metricsRegistry],
});

/** Sets the queued executions gauge from a fresh reading. */
export function setExecutionsQueued(count: number): void {
  executionsQueued.set(count);
}

const streamConnections = new Gauge({
  name: 'weft_stream_connections',
  help: 'Open WebSocket streams on this process.',
  registers: [metricsRegistry],
});

const executionWaits = new Gauge({
  name: 'weft_execution_waits',
  help: 'Start requests (wait_seconds) waiting on this process for their execution to end.',
  registers: [metricsRegistry],
});

// Known label values start at zero, so a rate() over them works before the first increment.
for (const status of ['completed', 'failed', 'cancelled']) executionsFinished.labels({ status }).inc(0);
for (const outcome of ['delivered', 'failed', 'abandoned']) webhookDeliveries.labels({ outcome }).inc(0);
for (const holder of ['engine', 'worker']) leaseExpiries.labels({ holder }).inc(0);

const FINISHED = new Map([
  ['workflow.completed', 'completed'],
  ['workflow.failed', 'failed'],
  ['workflow.cancelled', 'cancelled'],
]);

/**
 * Counts what one committed transaction wrote: `workflow.started` and ending events, and each
 * attempt with an outcome into the step duration histogram. Installed as the store's commit
 * observer by the server (`Store.observeCommits`).
 */
export function recordCommittedLog(log: CommittedLog): void {
  for (const event of log.events) {
    if (event.type === 'workflow.started') executionsStarted.inc();
    const finished = FINISHED.get(event.type);
    if (finished) executionsFinished.inc({ status: finished });
  }
  for (const attempt of log.attempts) {
    if (attempt.started_at === null || attempt.ended_at === null) continue;
    const seconds = (Date.parse(attempt.ended_at) - Date.parse(attempt.started_at)) / 1000;
    if (Number.isFinite(seconds)) {
      stepDuration.observe({ type: typeLabel(attempt.type), outcome: attempt.status }, Math.max(0, seconds));
    }
  }
}

/** How one webhook delivery attempt ended. */
export type WebhookDeliveryOutcome = 'delivered' | 'failed' | 'abandoned';

/**
 * Counts one webhook delivery attempt, after its outcome was recorded: `delivered` (2xx),
 * `failed` (another attempt follows) or `abandoned` (the last allowed attempt failed).
 */
export function recordWebhookDelivery(outcome: WebhookDeliveryOutcome): void {
  webhookDeliveries.inc({ outcome });
}

/** Counts one expired lease that this process recovered (after the recovery committed). */
export function recordLeaseExpiry(holder: 'engine' | 'worker'): void {
  leaseExpiries.inc({ holder });
}

/** Tracks open WebSocket streams: +1 when one opens, -1 when it closes. */
export function recordStreamConnection(delta: 1 | -1): void {
  streamConnections.inc(delta);
}

/** Tracks start requests waiting for their execution's end: +1 when one waits, -1 when it stops. */
export function recordExecutionWait(delta: 1 | -1): void {
  executionWaits.inc(delta);
}

/**
 * Replaces the queue depth gauge with a fresh reading (types and states absent now drop out).
 * Types past the label limit are summed into `other`.
 */
export function setQueueDepth(rows: ReadonlyArray<{ type: string; state: string; count: number }>): void {
  queueDepth.reset();
  const depths = new Map<string, { type: string; state: string; count: number }>();
  for (const row of rows) {
    const type = typeLabel(row.type);
    const series = `${type}\u0000${row.state}`;
    const depth = depths.get(series) ?? { type, state: row.state, count: 0 };
    depth.count += row.count;
    depths.set(series, depth);
  }
  for (const { type, state, count } of depths.values()) queueDepth.set({ type, state }, count);
}

let processMetrics = false;

/** Adds Node's process metrics (CPU, memory, event loop lag, GC) to the registry, once. */
export function enableProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: metricsRegistry });
}
