import path from 'node:path';
import { parseEgressRule } from './egress/egress-rules.js';
import { WeftError } from './errors.js';
import { parseSecretsKey } from './secrets/secret-cipher.js';

/**
 * Runtime configuration, read once from the environment. Every variable is listed in
 * docs/configuration.md; keep the two in step.
 */
export interface WeftConfig {
  /** `WEFT_DATABASE_URL`: a `postgres://` URL, or a SQLite file path. Default `<dataDir>/weft.db`. */
  databaseUrl: string;
  /**
   * `WEFT_ARTIFACTS_DIR`: folder of artifact files (SPEC §3.1). Default `<dataDir>/artifacts`. Every
   * process serving one PostgreSQL database must see the same folder (a shared volume).
   */
  artifactsDir: string;
  /** `WEFT_ARTIFACT_MAX_BYTES`: largest artifact accepted (a larger upload is a 413). Default 1 GiB. */
  artifactMaxBytes: number;
  /** `WEFT_DATA_DIR`: folder for the SQLite file and the bootstrap admin key. Default `./data`. */
  dataDir: string;
  /** `WEFT_PORT`: HTTP port. Default 8080. */
  port: number;
  /** `WEFT_HOST`: interface to bind. Default `0.0.0.0` (all interfaces). */
  host: string;
  /**
   * `WEFT_CORS_ORIGINS`: comma-separated origins (`https://app.example.com`, or `*` for any) that
   * browsers may call the REST API from and open streams from (src/api/cors.ts). Empty (default):
   * no CORS headers at all and no `Origin` check on stream upgrades.
   */
  corsOrigins: string[];
  /** `WEFT_ADMIN_KEY`: the admin key to ensure at start instead of generating one. */
  adminKey: string | undefined;
  /** `WEFT_PLUGINS`: comma-separated module specifiers loaded at start (task-type plugins). */
  plugins: string[];
  /** `WEFT_LLM_BASE_URL`: default base URL of the OpenAI-compatible endpoint for `llm.chat`. */
  llmBaseUrl: string | undefined;
  /** `WEFT_LLM_API_KEY`: bearer key sent to the `llm.chat` endpoint. */
  llmApiKey: string | undefined;
  /** `WEFT_LLM_MODEL`: model of an `llm.chat` step whose input names none (else the step fails). */
  llmModel: string | undefined;
  /** `WEFT_WEBHOOK_MAX_ATTEMPTS`: attempts per webhook delivery before it is abandoned. Default 10. */
  webhookMaxAttempts: number;
  /** `WEFT_WEBHOOK_RETRY_BASE_MS`: first webhook retry delay, doubled per attempt, jittered. Default 1000. */
  webhookRetryBaseMs: number;
  /** `WEFT_WEBHOOK_TIMEOUT_MS`: bound of one webhook attempt; longer is a failed attempt. Default 10000. */
  webhookTimeoutMs: number;
  /** `WEFT_BODY_LIMIT_BYTES`: largest accepted request body; larger ones get 413. Default 1 MiB. */
  bodyLimitBytes: number;
  /**
   * `WEFT_MAX_OUTPUT_BYTES`: largest step, item or execution output, in bytes of JSON; a larger one
   * fails its attempt without retry (`OUTPUT_TOO_LARGE`) and names artifacts as the way out. A
   * worker's `complete` takes bodies up to this plus 64 KiB, whatever `WEFT_BODY_LIMIT_BYTES` says,
   * and answers 413 for an output over it. Default 1 MiB.
   */
  maxOutputBytes: number;
  /** `WEFT_LOG_LEVEL`: pino level (`fatal`..`trace`, `silent`). Default `info`. */
  logLevel: string;
  /**
   * `WEFT_LOG_FORMAT`: `json` (one object per line) or `pretty` (a line a person reads). Unset:
   * pretty when stdout is a terminal, JSON otherwise (src/logger.ts, docs/logging.md).
   */
  logFormat: 'json' | 'pretty' | undefined;
  /**
   * `WEFT_SQLITE_SYNCHRONOUS`: SQLite `synchronous` pragma under WAL. `FULL` (default) makes every
   * commit durable across power loss; `NORMAL` is faster and still never corrupts, but the last
   * commits may be lost on power loss (not on a process crash).
   */
  sqliteSynchronous: 'FULL' | 'NORMAL';
  /**
   * `WEFT_PG_SYNCHRONOUS_COMMIT`: PostgreSQL `synchronous_commit` for Weft's sessions. `on` (default)
   * waits for the WAL flush; `off` is faster and may lose the last commits on a server crash.
   */
  pgSynchronousCommit: 'on' | 'off' | 'local' | 'remote_write' | 'remote_apply';
  /** `WEFT_PG_POOL_SIZE`: PostgreSQL connections per process. Default 10. */
  pgPoolSize: number;
  /**
   * `WEFT_PG_PREPARED_STATEMENTS`: run repeated statements as server-side prepared statements
   * (src/store/postgres/prepared-statements.ts). Default true; false behind a connection pooler in
   * transaction mode, which does not keep them per client.
   */
  pgPreparedStatements: boolean;
  /**
   * `WEFT_PG_ONE_STATEMENT_SETTLE`: settle a completed step whose dependents run in this process
   * in one statement instead of a transaction of five round trips
   * (src/engine/settle-in-one-statement.ts). Default true; false to compare or to rule it out.
   */
  pgOneStatementSettle: boolean;
  /** `WEFT_WORKER_CONCURRENCY`: steps one process runs at once. Default 200. */
  workerConcurrency: number;
  /** `WEFT_POLL_INTERVAL_MS`: safety-net poll for work, timers, expired leases, timeouts. Default 1000. */
  pollIntervalMs: number;
  /** `WEFT_LEASE_MS`: lease on a running step, renewed every third of it. Default 30000. */
  leaseMs: number;
  /**
   * `WEFT_METRICS_TOKEN`: when set, `GET /metrics` needs `Authorization: Bearer <token>`; unset,
   * it answers loopback peers only (it shows counts, timings and task-type names).
   */
  metricsToken: string | undefined;
  /**
   * `WEFT_EXPRESSION_TIMEOUT_MS`: time budget of one JSONata evaluation (a template, `when`,
   * `transform`, a mapping transform, a trigger condition). Past it the attempt fails without
   * retry (`EXPRESSION_LIMIT`). Default 1000.
   */
  expressionTimeoutMs: number;
  /**
   * `WEFT_EXPRESSION_MAX_DEPTH`: deepest nesting of sub-expression evaluations (recursive
   * functions count once per level and sub-expression). Default 500.
   */
  expressionMaxDepth: number;
  /**
   * `WEFT_NODE_ID`: this process's stable name, default the host name. Lease owners carry it; a
   * process that restarts with the same id takes back at once the steps its previous incarnation
   * was running, when no other live process uses that id (on SQLite, when no other engine runs on
   * the file, whatever the id). Give each process of a PostgreSQL deployment its own, stable id
   * (a StatefulSet's pod name, a systemd instance name). Letters, digits, `.`, `_` and `-`, at most 64.
   */
  nodeId: string | undefined;
  /**
   * `WEFT_EGRESS_ALLOW`: comma-separated hosts, `*.suffix` wildcards, IPs, CIDR ranges and schemes
   * (`data:`) that outbound requests (`http`, `llm.chat`, webhooks) may reach whatever the other
   * rules say; the only way to reach link-local and metadata addresses (by IP or CIDR). See
   * docs/egress.md. Default empty.
   */
  egressAllow: string[];
  /** `WEFT_EGRESS_DENY`: entries (same syntax) outbound requests may not reach. Default empty. */
  egressDeny: string[];
  /**
   * `WEFT_EGRESS_PRIVATE`: `allow` (default, for a single-team install) lets outbound requests reach
   * loopback, RFC 1918 and other private addresses, Weft's own port included; `deny` refuses them
   * and is recommended whenever workspaces do not trust each other.
   */
  egressPrivate: 'allow' | 'deny';
  /**
   * `WEFT_HTTP_MAX_RESPONSE_BYTES`: largest response body an `http` or `llm.chat` step reads; it is
   * streamed and the attempt fails without retry (`SIZE_LIMIT`) past it. Default 10 MiB.
   */
  httpMaxResponseBytes: number;
  /**
   * `WEFT_HTTP_DEFAULT_TIMEOUT_MS`: timeout of an `http` step whose input sets no `timeout_seconds`
   * and whose step sets no attempt `timeout_seconds`. Default 30000.
   */
  httpDefaultTimeoutMs: number;
  /**
   * `WEFT_DEFAULT_STEP_TIMEOUT_SECONDS`: per-attempt timeout of a step (or fallback) whose
   * `timeout_seconds` is unset or null, so no handler holds a slot for ever. Default 3600.
   */
  defaultStepTimeoutSeconds: number;
  /**
   * `WEFT_MAX_WORKFLOW_DEPTH`: how deep `workflow` steps may nest child executions under a
   * top-level execution; a `workflow` step that would go deeper fails without retry. Default 10.
   */
  maxWorkflowDepth: number;
  /**
   * `WEFT_WORKSPACE_SLOT_SHARE`: percent of a process's step slots (`WEFT_WORKER_CONCURRENCY`) that
   * one workspace may hold; the rest stay free for the other workspaces. Default 80; 100 turns it off.
   */
  workspaceSlotShare: number;
  /**
   * `WEFT_FOR_EACH_MAX_ITEMS`: most items one `for_each` step may have; a longer array fails the
   * step without retry. Default 10000.
   */
  forEachMaxItems: number;
  /**
   * `WEFT_SECRETS_KEY`: 32 bytes (64 hex digits or base64) encrypting workspace secrets at rest
   * (AES-256-GCM). Unset, secrets are stored as they are and `weft serve` warns; a secret written
   * encrypted cannot be read by a process without its key (docs/secrets.md).
   */
  secretsKey: Buffer | undefined;
}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new WeftError('CONFIG_INVALID', `${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

function enumVar<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const match = allowed.find((candidate) => candidate.toLowerCase() === raw.trim().toLowerCase());
  if (!match) throw new WeftError('CONFIG_INVALID', `${name} must be one of ${allowed.join(', ')}, got '${raw}'`);
  return match;
}

/** A comma-separated egress list, each entry checked now so a typo stops the start. */
function egressListVar(env: Env, name: string): string[] {
  const entries = (optional(env, name) ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of entries) {
    try {
      parseEgressRule(entry);
    } catch (error) {
      throw new WeftError('CONFIG_INVALID', `${name}: ${(error as Error).message}`);
    }
  }
  return entries;
}

/** `WEFT_SECRETS_KEY`, checked now so a malformed key stops the start. */
function secretsKeyVar(env: Env): Buffer | undefined {
  const raw = optional(env, 'WEFT_SECRETS_KEY');
  if (raw === undefined) return undefined;
  try {
    return parseSecretsKey(raw);
  } catch (error) {
    throw new WeftError('CONFIG_INVALID', `WEFT_SECRETS_KEY ${(error as Error).message}`);
  }
}

/**
 * `WEFT_CORS_ORIGINS`, each entry checked now and kept as a browser serialises an `Origin`
 * (lower-case scheme and host, no default port), so that `HTTPS://App.example.com:443` matches.
 */
function corsOriginsVar(env: Env): string[] {
  const entries = (optional(env, 'WEFT_CORS_ORIGINS') ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  return entries.map((entry) => {
    if (entry === '*') return entry;
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    const bare = url && /^https?:$/.test(url.protocol) && !url.username && !url.password && !url.search && !url.hash;
    if (!url || !bare || !/^[a-z]+:\/\/[^/]+\/?$/i.test(entry)) {
      throw new WeftError(
        'CONFIG_INVALID',
        `WEFT_CORS_ORIGINS entries are origins like https://app.example.com (scheme, host, optional port; no path) or *, got '${entry}'`,
      );
    }
    return url.origin;
  });
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

function nodeIdVar(env: Env): string | undefined {
  const raw = optional(env, 'WEFT_NODE_ID');
  if (raw !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(raw)) {
    throw new WeftError(
      'CONFIG_INVALID',
      `WEFT_NODE_ID must be 1 to 64 letters, digits, '.', '_' or '-', got '${raw}'`,
    );
  }
  return raw;
}

/** `WEFT_PORT`'s default; the command-line client's default server is this port on loopback. */
export const DEFAULT_PORT = 8080;

/** Reads the configuration from `env` (default `process.env`); throws CONFIG_INVALID on a bad value. */
export function loadConfig(env: Env = process.env): WeftConfig {
  const dataDir = path.resolve(optional(env, 'WEFT_DATA_DIR') ?? './data');
  const databaseUrl = optional(env, 'WEFT_DATABASE_URL') ?? path.join(dataDir, 'weft.db');
  return {
    databaseUrl,
    dataDir,
    port: intVar(env, 'WEFT_PORT', DEFAULT_PORT, 0, 65535),
    host: optional(env, 'WEFT_HOST') ?? '0.0.0.0',
    corsOrigins: corsOriginsVar(env),
    adminKey: optional(env, 'WEFT_ADMIN_KEY'),
    plugins: (optional(env, 'WEFT_PLUGINS') ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ''),
    llmBaseUrl: optional(env, 'WEFT_LLM_BASE_URL'),
    llmApiKey: optional(env, 'WEFT_LLM_API_KEY'),
    llmModel: optional(env, 'WEFT_LLM_MODEL'),
    webhookMaxAttempts: intVar(env, 'WEFT_WEBHOOK_MAX_ATTEMPTS', 10, 1, 1000),
    webhookRetryBaseMs: intVar(env, 'WEFT_WEBHOOK_RETRY_BASE_MS', 1000, 1, 86_400_000),
    webhookTimeoutMs: intVar(env, 'WEFT_WEBHOOK_TIMEOUT_MS', 10_000, 100, 300_000),
    bodyLimitBytes: intVar(env, 'WEFT_BODY_LIMIT_BYTES', 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxOutputBytes: intVar(env, 'WEFT_MAX_OUTPUT_BYTES', 1024 * 1024, 1024, 1024 * 1024 * 1024),
    logLevel: enumVar(env, 'WEFT_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    logFormat:
      optional(env, 'WEFT_LOG_FORMAT') === undefined
        ? undefined
        : enumVar<'json' | 'pretty'>(env, 'WEFT_LOG_FORMAT', ['json', 'pretty'], 'json'),
    sqliteSynchronous: enumVar(env, 'WEFT_SQLITE_SYNCHRONOUS', ['FULL', 'NORMAL'], 'FULL'),
    pgSynchronousCommit: enumVar(
      env,
      'WEFT_PG_SYNCHRONOUS_COMMIT',
      ['on', 'off', 'local', 'remote_write', 'remote_apply'],
      'on',
    ),
    pgPoolSize: intVar(env, 'WEFT_PG_POOL_SIZE', 10, 1, 1000),
    pgPreparedStatements: enumVar(env, 'WEFT_PG_PREPARED_STATEMENTS', ['true', 'false'], 'true') === 'true',
    pgOneStatementSettle: enumVar(env, 'WEFT_PG_ONE_STATEMENT_SETTLE', ['true', 'false'], 'true') === 'true',
    workerConcurrency: intVar(env, 'WEFT_WORKER_CONCURRENCY', 200, 1, 100_000),
    pollIntervalMs: intVar(env, 'WEFT_POLL_INTERVAL_MS', 1000, 10, 600_000),
    leaseMs: intVar(env, 'WEFT_LEASE_MS', 30_000, 300, 3_600_000),
    metricsToken: optional(env, 'WEFT_METRICS_TOKEN'),
    expressionTimeoutMs: intVar(env, 'WEFT_EXPRESSION_TIMEOUT_MS', 1000, 10, 600_000),
    expressionMaxDepth: intVar(env, 'WEFT_EXPRESSION_MAX_DEPTH', 500, 10, 100_000),
    nodeId: nodeIdVar(env),
    egressAllow: egressListVar(env, 'WEFT_EGRESS_ALLOW'),
    egressDeny: egressListVar(env, 'WEFT_EGRESS_DENY'),
    egressPrivate: enumVar(env, 'WEFT_EGRESS_PRIVATE', ['allow', 'deny'], 'allow'),
    httpMaxResponseBytes: intVar(env, 'WEFT_HTTP_MAX_RESPONSE_BYTES', 10 * 1024 * 1024, 1, 2 ** 31 - 1),
    httpDefaultTimeoutMs: intVar(env, 'WEFT_HTTP_DEFAULT_TIMEOUT_MS', 30_000, 1, 3_600_000),
    defaultStepTimeoutSeconds: intVar(env, 'WEFT_DEFAULT_STEP_TIMEOUT_SECONDS', 3600, 1, 31_536_000),
    maxWorkflowDepth: intVar(env, 'WEFT_MAX_WORKFLOW_DEPTH', 10, 1, 1000),
    workspaceSlotShare: intVar(env, 'WEFT_WORKSPACE_SLOT_SHARE', 80, 1, 100),
    forEachMaxItems: intVar(env, 'WEFT_FOR_EACH_MAX_ITEMS', 10_000, 1, 1_000_000),
    secretsKey: secretsKeyVar(env),
    artifactsDir: path.resolve(optional(env, 'WEFT_ARTIFACTS_DIR') ?? path.join(dataDir, 'artifacts')),
    artifactMaxBytes: intVar(env, 'WEFT_ARTIFACT_MAX_BYTES', 1024 ** 3, 1, 2 ** 50),
  };
}

/** True when the database URL selects the PostgreSQL backend. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}
