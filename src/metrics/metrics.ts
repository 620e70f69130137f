import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CommitNote, CommittedLog } from '../store/repositories/execution-log-repository.js';

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

/** Distinct workflows this process labels execution durations with; later ones are counted as `other`. */
export const WORKFLOW_LABEL_LIMIT = 100;

/** The `workflow` label of ad-hoc executions (no stored workflow); ids start with `wf_`, so none is `adhoc`. */
export const ADHOC_WORKFLOW = 'adhoc';

/**
 * Task types and workflows are chosen by tenants, and each distinct one is a set of series in every
 * scrape and in Prometheus: the first `limit` seen keep their name, the rest share `other`, so a
 * workspace declaring thousands of types or workflows cannot bloat the exposition or the scraper.
 */
function boundedLabel(limit: number) {
  const seen = new Set<string>();
  const label = (value: string): string => {
    if (seen.has(value)) return value;
    if (seen.size >= limit) return OTHER_TASK_TYPE;
    seen.add(value);
    return value;
  };
  return Object.assign(label, { seen: seen as ReadonlySet<string> });
}

const typeLabel = boundedLabel(TASK_TYPE_LABEL_LIMIT);
const workflowLabel = boundedLabel(WORKFLOW_LABEL_LIMIT);

const executionsStarted = new Counter({
  name: 'weft_executions_started_total',
  help: 'Executions started for the first time (created running, started from pending, or admitted from queued) by this process; a resume is not counted (see weft_executions_running).',
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

const executionDuration = new Histogram({
  name: 'weft_execution_duration_seconds',
  help: 'Duration of executions that ended in this process, from their start (a resumed one keeps its first) to their end, by workflow id (the first 100 seen, then other; adhoc for ad-hoc runs) and final status (completed, failed, cancelled). One never started is not observed.',
  labelNames: ['workflow', 'status'],
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 10800, 43200, 86400],
  registers: [metricsRegistry],
});

const httpDuration = new Histogram({
  name: 'weft_http_request_duration_seconds',
  help: 'Duration of HTTP requests answered by this process, by method, route pattern (unmatched for a path no route serves) and status code.',
  labelNames: ['method', 'route', 'status'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [metricsRegistry],
});

const executionsRunning = new Gauge({
  name: 'weft_executions_running',
  help: 'Executions of the whole database running now (status running; paused and queued ones are not). Read at scrape time; every process reports the same value, so aggregate with max, not sum.',
  registers: [metricsRegistry],
});

/** Sets the running executions gauge from a fresh reading. */
export function setExecutionsRunning(count: number): void {
  executionsRunning.set(count);
}

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
 * Counts what one committed transaction wrote: `workflow.started` and ending events, each attempt
 * with an outcome into the step duration histogram, and from its notes each ended execution into
 * the execution duration histogram and each lease taken back. Installed as the store's commit
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
  if (log.notes) for (const note of log.notes) recordNote(note);
}

function recordNote(note: CommitNote): void {
  if (note.kind === 'lease_recovered') {
    leaseExpiries.inc({ holder: note.holder });
    return;
  }
  if (note.startedAt === null) return;
  const seconds = (Date.parse(note.endedAt) - Date.parse(note.startedAt)) / 1000;
  if (!Number.isFinite(seconds)) return;
  const workflow = note.workflowId === null ? ADHOC_WORKFLOW : workflowLabel(note.workflowId);
  executionDuration.observe({ workflow, status: note.status }, Math.max(0, seconds));
}

/** The `route` label of a request no route serves (a 404 or 405): raw paths would be unbounded. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Times one answered HTTP request: `route` is the pattern it matched (`/api/v1/executions/:id`,
 * never the raw URL), undefined for none.
 */
export function recordHttpRequest(method: string, route: string | undefined, status: number, seconds: number): void {
  httpDuration.observe({ method, route: route ?? UNMATCHED_ROUTE, status: String(status) }, Math.max(0, seconds));
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

/** Tracks open WebSocket streams: +1 when one opens, -1 when it closes. */
export function recordStreamConnection(delta: 1 | -1): void {
  streamConnections.inc(delta);
}

/** Tracks start requests waiting for their execution's end: +1 when one waits, -1 when it stops. */
export function recordExecutionWait(delta: 1 | -1): void {
  executionWaits.inc(delta);
}

/** The states of `weft_queue_depth`. */
export const QUEUE_STATES = Object.freeze(['ready', 'delayed', 'waiting', 'running'] as const);

/**
 * Replaces the queue depth gauge with a fresh reading. Types past the label limit are summed into
 * `other`. A series never disappears once it appeared: every state of every type this process has
 * labelled is reported, at 0 when empty; before it has labelled any, each state is one series
 * without a `type` label at 0, so an idle server still reports its depth. With `rows` undefined
 * (the reading failed) the gauge is left out of the answer: a stale depth would mislead.
 */
export function setQueueDepth(rows: ReadonlyArray<{ type: string; state: string; count: number }> | undefined): void {
  queueDepth.reset();
  if (rows === undefined) return;
  const depths = new Map<string, { type: string; state: string; count: number }>();
  for (const row of rows) {
    const type = typeLabel(row.type);
    const series = `${type}\u0000${row.state}`;
    const depth = depths.get(series) ?? { type, state: row.state, count: 0 };
    depth.count += row.count;
    depths.set(series, depth);
  }
  const labelled = [...typeLabel.seen];
  if (labelled.length >= TASK_TYPE_LABEL_LIMIT) labelled.push(OTHER_TASK_TYPE);
  for (const state of QUEUE_STATES) {
    if (labelled.length === 0) queueDepth.set({ state }, 0);
    for (const type of labelled) queueDepth.set({ type, state }, 0);
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
