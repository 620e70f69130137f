import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import type { WeftConfig } from '../config.js';
import { classifyAddress, parseAddress } from '../egress/address-class.js';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../engine/states.js';
import { notFound, WeftError } from '../errors.js';
import { metricsRegistry, setExecutionsQueued, setExecutionsRunning, setQueueDepth } from '../metrics/metrics.js';
import type { DurationSummary, StatusCount } from '../store/repositories/stats-repository.js';
import type { ApiContext } from './api-context.js';
import { authOf, bearerToken } from './auth.js';
import { errorResponses, IdParams, Timestamp } from './schemas.js';

/**
 * Aggregates over executions (docs/metrics.md): `GET /executions/stats` and
 * `GET /workflows/{id}/metrics` per workspace, and the Prometheus text at `GET /metrics`.
 */

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

const DurationSchema = Type.Object(
  {
    count: Type.Integer({ description: 'How many durations were measured.' }),
    p50: Nullable(Type.Number()),
    p95: Nullable(Type.Number()),
    max: Nullable(Type.Number()),
  },
  { title: 'Durations (ms)', description: 'Milliseconds; nearest-rank percentiles; null when nothing was measured.' },
);

const ByStatus = Type.Object(Object.fromEntries(EXECUTION_STATUSES.map((status) => [status, Type.Integer()])), {
  description: 'Executions per status.',
});

const Since = Type.Optional(
  Type.String({ format: 'date-time', description: 'Only executions created at or after this time.' }),
);

const ExecutionStatsSchema = Type.Object(
  {
    workflow_id: Nullable(Type.String()),
    since: Nullable(Timestamp),
    total: Type.Integer(),
    by_status: ByStatus,
    workflows: Type.Array(
      Type.Object({
        workflow_id: Nullable(Type.String({ description: 'null for ad-hoc executions.' })),
        total: Type.Integer(),
        by_status: ByStatus,
        duration_ms: DurationSchema,
      }),
    ),
  },
  { title: 'Execution stats' },
);

const WorkflowMetricsSchema = Type.Object(
  {
    workflow_id: Type.String(),
    since: Nullable(Timestamp),
    executions: Type.Object({ total: Type.Integer(), by_status: ByStatus }),
    success_rate: Nullable(
      Type.Number({ description: 'completed / (completed + failed + cancelled); null before any ended.' }),
    ),
    duration_ms: DurationSchema,
    steps: Type.Array(
      Type.Object({
        step_id: Type.String(),
        attempts: Type.Integer(),
        failures: Type.Integer({ description: 'Failed attempts (errors, timeouts, expired worker leases).' }),
        by_status: Type.Record(Type.String(), Type.Integer(), {
          description: 'Attempts per outcome: completed, failed, lost, interrupted, released.',
        }),
        duration_ms: DurationSchema,
      }),
    ),
  },
  { title: 'Workflow metrics' },
);

const EMPTY_DURATIONS: DurationSummary = { count: 0, p50: null, p95: null, max: null };

function byStatus(counts: readonly StatusCount[]): Record<(typeof EXECUTION_STATUSES)[number], number> {
  const result = Object.fromEntries(EXECUTION_STATUSES.map((status) => [status, 0])) as Record<
    (typeof EXECUTION_STATUSES)[number],
    number
  >;
  for (const { status, count } of counts) {
    if (status in result) result[status as ExecutionStatus] += count;
  }
  return result;
}

const total = (counts: readonly StatusCount[]) => counts.reduce((sum, row) => sum + row.count, 0);

/** A query's `since` as the stored form (ISO 8601 UTC with milliseconds), so text comparison is time order. */
/** `since` as ISO UTC; a valid RFC 3339 time JavaScript cannot represent (a leap second) is a 400. */
const normalizeSince = (since: string | undefined) => {
  if (since === undefined) return undefined;
  const at = Date.parse(since);
  if (Number.isNaN(at)) {
    throw new WeftError('VALIDATION_FAILED', `'${since}' is not a time this server can compare`, {
      errors: [{ path: 'query/since', message: 'use an ISO 8601 time such as 2026-01-31T00:00:00Z' }],
    });
  }
  return new Date(at).toISOString();
};

/** How long an aggregate answer is reused for the same question (workspace, workflow, since). */
export const AGGREGATE_REUSE_MS = 5000;
/** Most answers kept at once; past it the oldest go first. */
const AGGREGATE_CACHE_ENTRIES = 500;

/**
 * Single flight with a short reuse: the aggregates scan every execution of a workflow, so calls
 * asking the same question while one is computed (or within AGGREGATE_REUSE_MS of it) share its
 * answer instead of each running the scan; a failure is not kept.
 */
export class AggregateCache<T> {
  readonly #entries = new Map<string, { value: Promise<T>; until: number }>();

  /** The answer for `key`: a fresh or recent one, or `compute()`'s. */
  get(key: string, compute: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const entry = this.#entries.get(key);
    if (entry && entry.until > now) return entry.value;
    for (const [old, { until }] of this.#entries) {
      if (until <= now || this.#entries.size >= AGGREGATE_CACHE_ENTRIES) this.#entries.delete(old);
      else break;
    }
    const fresh = { value: compute(), until: Number.POSITIVE_INFINITY };
    this.#entries.delete(key);
    this.#entries.set(key, fresh);
    fresh.value.then(
      () => {
        fresh.until = Date.now() + AGGREGATE_REUSE_MS;
      },
      () => {
        if (this.#entries.get(key) === fresh) this.#entries.delete(key);
      },
    );
    return fresh.value;
  }
}

/** `GET /executions/stats` and `GET /workflows/{id}/metrics` (under `/api/v1`, authenticated). */
export const statsRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store }) => {
  const statsAnswers = new AggregateCache<Static<typeof ExecutionStatsSchema>>();
  const metricsAnswers = new AggregateCache<Static<typeof WorkflowMetricsSchema>>();

  app.get(
    '/executions/stats',
    {
      schema: {
        tags: ['executions'],
        summary: 'Counts by status and durations (p50/p95/max) per workflow',
        querystring: Type.Object(
          { workflow_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })), since: Since },
          { additionalProperties: false },
        ),
        response: { 200: ExecutionStatsSchema, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { workspace } = authOf(request);
      const filter = { workflowId: request.query.workflow_id, since: normalizeSince(request.query.since) };
      const key = JSON.stringify([workspace.id, filter.workflowId ?? null, filter.since ?? null]);
      return statsAnswers.get(key, async () => {
        const { counts, durations } = await store.stats.executionSummary(workspace.id, filter);
        const groups = new Map<string | null, StatusCount[]>();
        for (const row of counts) groups.set(row.key, [...(groups.get(row.key) ?? []), row]);
        const workflows = [...groups]
          .map(([workflowId, rows]) => ({
            workflow_id: workflowId,
            total: total(rows),
            by_status: byStatus(rows),
            duration_ms: durations.get(workflowId) ?? EMPTY_DURATIONS,
          }))
          .sort((a, b) => b.total - a.total || String(a.workflow_id).localeCompare(String(b.workflow_id)));
        return {
          workflow_id: filter.workflowId ?? null,
          since: filter.since ?? null,
          total: total(counts),
          by_status: byStatus(counts),
          workflows,
        };
      });
    },
  );

  app.get(
    '/workflows/:id/metrics',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Success rate, duration p50/p95/max, per-step durations and failure counts',
        params: IdParams,
        querystring: Type.Object({ since: Since }, { additionalProperties: false }),
        response: { 200: WorkflowMetricsSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { workspace } = authOf(request);
      const workflow = await store.workflows.get(workspace.id, request.params.id);
      if (!workflow) throw notFound('workflow', request.params.id);
      const since = normalizeSince(request.query.since);
      const filter = { workflowId: workflow.id, since };
      const key = JSON.stringify([workspace.id, workflow.id, since ?? null]);
      return metricsAnswers.get(key, async () => {
        const [{ counts, durations }, { counts: attempts, durations: attemptDurations }] = await Promise.all([
          store.stats.executionSummary(workspace.id, filter),
          store.stats.attemptSummary(workspace.id, workflow.id, since),
        ]);
        const statuses = byStatus(counts);
        const ended = statuses.completed + statuses.failed + statuses.cancelled;
        // Steps in the order of the latest definition, then any that only older versions had.
        const definitionSteps = (workflow.definition.steps as Array<{ id: string }> | undefined) ?? [];
        const stepIds = [
          ...new Set([...definitionSteps.map((step) => step.id), ...attempts.map((row) => row.key ?? '')]),
        ];
        const steps = stepIds.map((stepId) => {
          const rows = attempts.filter((row) => row.key === stepId);
          return {
            step_id: stepId,
            attempts: total(rows),
            failures: rows.filter((row) => row.status === 'failed').reduce((sum, row) => sum + row.count, 0),
            by_status: Object.fromEntries(rows.map((row) => [row.status, row.count])),
            duration_ms: attemptDurations.get(stepId) ?? EMPTY_DURATIONS,
          };
        });
        return {
          workflow_id: workflow.id,
          since: since ?? null,
          executions: { total: total(counts), by_status: statuses },
          success_rate: ended === 0 ? null : statuses.completed / ended,
          duration_ms: durations.get(workflow.id) ?? EMPTY_DURATIONS,
          steps,
        };
      });
    },
  );
};

/** True when `host` (a `WEFT_HOST` value) is reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const bare = host
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .toLowerCase();
  if (bare === 'localhost') return true;
  // The egress policy's classification: it also sees loopback inside IPv6 forms (::ffff:127.0.0.1).
  const address = parseAddress(bare);
  return address !== undefined && classifyAddress(address).range === 'loopback';
}

/**
 * The warning to log at start when the server binds beyond loopback without `WEFT_METRICS_TOKEN`:
 * `/metrics` then refuses every scraper but this machine's (see `metricsRefusal`), which an
 * operator should know before wondering why Prometheus gets 401. Undefined when all is set.
 */
export function metricsExposureWarning(config: Pick<WeftConfig, 'host' | 'metricsToken'>): string | undefined {
  if (config.metricsToken !== undefined || isLoopbackHost(config.host)) return undefined;
  return (
    `the server listens on ${config.host} but GET /metrics answers only this machine while no token is ` +
    'set: set WEFT_METRICS_TOKEN to let scrapers elsewhere in with Authorization: Bearer <token>, or ' +
    'WEFT_HOST=127.0.0.1 to serve this machine only'
  );
}

/** Constant-time comparison of the scrape token (length leaks nothing useful: tokens are random). */
function tokenMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Why a `/metrics` scrape from `peer` (the connection's address) with `bearer` is refused, or
 * undefined when it may read: with `WEFT_METRICS_TOKEN` set the token decides, wherever the
 * scrape comes from; unset, only this machine (a loopback peer) may read.
 */
export function metricsRefusal(
  config: Pick<WeftConfig, 'metricsToken'>,
  peer: string,
  bearer: string | undefined,
): string | undefined {
  if (config.metricsToken !== undefined) {
    return tokenMatches(bearer, config.metricsToken)
      ? undefined
      : 'send the WEFT_METRICS_TOKEN as Authorization: Bearer <token>';
  }
  if (isLoopbackHost(peer)) return undefined;
  return (
    'GET /metrics answers only this machine while no token is set: set WEFT_METRICS_TOKEN on the ' +
    'server and scrape with Authorization: Bearer <token>'
  );
}

/**
 * `GET /metrics`, outside `/api/v1`: Prometheus text. With `WEFT_METRICS_TOKEN` set it needs
 * `Authorization: Bearer <token>` (Prometheus' `authorization` scrape setting), else 401; unset it
 * answers loopback peers only (others get 401 naming WEFT_METRICS_TOKEN), and `weft serve` warns
 * at start when it binds beyond loopback. It shows counts, timings, up to `TASK_TYPE_LABEL_LIMIT`
 * task-type names and `WORKFLOW_LABEL_LIMIT` workflow ids, never other workspace data.
 */
export const prometheusRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store, config }) => {
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format)',
        security: config.metricsToken ? [{ apiKey: [] }] : [],
        response: {
          200: {
            description: 'Prometheus text format 0.0.4.',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...errorResponses(401),
        },
      },
    },
    async (request, reply) => {
      // The socket's peer, not a forwarded header: the server trusts no proxy.
      const refusal = metricsRefusal(config, request.socket.remoteAddress ?? request.ip, bearerToken(request));
      if (refusal !== undefined) throw new WeftError('UNAUTHORIZED', refusal);
      try {
        const [backlog, queued, running] = await Promise.all([
          store.stats.stepBacklog(Date.now()),
          store.concurrency.queuedCount(),
          store.executions.runningCount(),
        ]);
        setQueueDepth(backlog);
        setExecutionsQueued(queued);
        setExecutionsRunning(running);
      } catch (error) {
        // The counters are still worth scraping; a stale depth would mislead, so it drops out.
        request.log.warn({ err: error }, 'reading the queue depth for /metrics failed');
        setQueueDepth(undefined);
        setExecutionsQueued(0);
        setExecutionsRunning(0);
      }
      const text = await metricsRegistry.metrics();
      return reply.type(metricsRegistry.contentType).send(text);
    },
  );
};
