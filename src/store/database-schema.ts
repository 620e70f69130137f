import type { ColumnType } from 'kysely';
import type { ArtifactRow } from '../artifacts/artifact-repository.js';
import type { StepItemAttemptRow } from '../items/item-attempts.js';
import type { StepItemRow } from '../items/item-repository.js';
import type { SignalRow } from '../signals/signal-repository.js';
import type { WorkerRow } from '../workers/worker-repository.js';
/**
 * Row types of Weft's tables, as Kysely sees them. Both backends store the same shapes: ids and
 * timestamps (ISO 8601 UTC) as text, JSON as text, booleans as 0/1 integers, so one set of
 * queries serves SQLite and PostgreSQL. Every table carries `workspace_id`.
 */

export interface WorkspaceRow {
  id: string;
  slug: string;
  name: string;
  created_at: string;
}

export interface ApiKeyRow {
  id: string;
  workspace_id: string;
  name: string;
  role: string;
  /** First characters of the raw key, shown in lists so people can tell keys apart. */
  prefix: string;
  /** SHA-256 (hex) of the raw key; the raw key is never stored. */
  key_hash: string;
  created_at: string;
  last_used_at: string | null;
}

export interface WorkflowRow {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  enabled: number;
  /** JSON object of string labels. */
  labels: string;
  webhook_url: string | null;
  latest_version: number;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface WorkflowVersionRow {
  workspace_id: string;
  workflow_id: string;
  version: number;
  /** The definition as submitted, JSON. */
  definition: string;
  created_at: string;
}

/** Kysely's view of the database. */
export interface Database {
  workspaces: WorkspaceRow;
  api_keys: ApiKeyRow;
  workflows: WorkflowRow;
  workflow_versions: WorkflowVersionRow;
  executions: ExecutionRow & ExecutionComputedColumns;
  execution_steps: ExecutionStepRow;
  step_attempts: StepAttemptRow & StepAttemptComputedColumns;
  execution_events: ExecutionEventRow;
  task_types: TaskTypeRow;
  events: EventRow;
  workflow_triggers: WorkflowTriggerRow;
  schedules: ScheduleRow;
  webhooks: WebhookRow;
  webhook_signing_secrets: WebhookSigningSecretRow;
  webhook_deliveries: WebhookDeliveryRow;
  webhook_attempts: WebhookAttemptRow;
  secrets: SecretRow;
  step_items: StepItemRow;
  step_item_attempts: StepItemAttemptRow;
  signals: SignalRow;
  artifacts: ArtifactRow;
  workers: WorkerRow;
  /** SQLite only (migration 0019): each execution's labels, one row each, for the label filter. */
  execution_labels: ExecutionLabelRow;
}

/** One label of an execution (SQLite; a trigger writes them when the execution is inserted). */
export interface ExecutionLabelRow {
  workspace_id: string;
  key: string;
  value: string;
  execution_id: string;
}

/**
 * Columns the database computes from others (migration 0018); Kysely reads them, never writes.
 * `selectAll()` returns them too, so a row read back carries them beside `ExecutionRow`'s.
 */
export interface ExecutionComputedColumns {
  /** `completed_at - started_at` in ms for a completed or failed execution that started, else null. */
  duration_ms: ColumnType<number | null, never, never>;
}

export interface ExecutionRow {
  id: string;
  workspace_id: string;
  workflow_id: string | null;
  workflow_version: number | null;
  /** The inline definition of an ad-hoc execution (JSON); null for a workflow's execution. */
  adhoc_definition: string | null;
  status: string;
  input: string;
  output: string | null;
  error: string | null;
  labels: string;
  reference: string | null;
  trigger: string | null;
  webhook_url: string | null;
  steps_total: number;
  /** Steps not yet completed, failed, skipped or cancelled; the execution ends at 0. */
  steps_unsettled: number;
  /** Epoch ms after which the execution times out (workflow `timeout_seconds`). */
  timeout_at: number | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  updated_at: string;
  deleted_at: string | null;
  /** The Idempotency-Key of the start that created it. */
  idempotency_key: string | null;
  /** The execution whose `workflow` step started this one (a child execution), else null. */
  parent_execution_id?: string | null;
  /** That step's id. */
  parent_step_id?: string | null;
  /** The item of that step, when the step runs `for_each` (its attempt is this child). */
  parent_item_index?: number | null;
  /** 0 for a top-level execution, its parent's depth + 1 for a child (WEFT_MAX_WORKFLOW_DEPTH). */
  workflow_depth?: number;
  /** The concurrency group it counts in (workflow id, or `adhoc:<workspace>:<name>`), else null. */
  concurrency_group?: string | null;
  /** Its rendered concurrency key ('' for a block without `key`), else null. */
  concurrency_key?: string | null;
  /** When it was last queued for a concurrency slot (the FIFO order), else null. */
  queued_at?: string | null;
}

export interface ExecutionStepRow {
  execution_id: string;
  step_id: string;
  workspace_id: string;
  /** Index of the step in the definition. */
  position: number;
  type: string;
  /** Type of the current attempt: `type`, or the fallback's type once the fallback runs. */
  attempt_type: string;
  status: string;
  /** Why a skipped step was skipped: `condition` (its `when`) or `dependency`. */
  skip_reason: string | null;
  deps_total: number;
  deps_settled: number;
  deps_completed: number;
  attempts: number;
  /** `attempts` when the step was last reset by resume or retry; the retry budget counts from it. */
  attempt_base: number;
  /** Attempts lost to expired leases (crashed process or worker). */
  lost_attempts: number;
  used_fallback: number;
  input: string | null;
  output: string | null;
  error: string | null;
  /** Epoch ms when a queued (retry backoff) or waiting (timer) step becomes due. */
  run_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  queued_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  /** A `workflow` step: the child execution of its current attempt. */
  child_execution_id?: string | null;
  /** A waiting `wait_for_signal` step: the signal name it waits for (src/signals/). */
  waiting_signal?: string | null;
}

/** Columns the database computes from others (migration 0018); Kysely reads them, never writes. */
export interface StepAttemptComputedColumns {
  /** `ended_at - started_at` in ms for a completed or failed attempt, else null. */
  duration_ms: ColumnType<number | null, never, never>;
}

export interface StepAttemptRow {
  execution_id: string;
  step_id: string;
  attempt: number;
  workspace_id: string;
  type: string;
  status: string;
  used_fallback: number;
  error: string | null;
  worker: string | null;
  queued_at: string | null;
  started_at: string | null;
  ended_at: string | null;
}

export interface ExecutionEventRow {
  id: string;
  workspace_id: string;
  execution_id: string;
  type: string;
  step_id: string | null;
  data: string;
  created_at: string;
}

export interface TaskTypeRow {
  workspace_id: string;
  type: string;
  description: string;
  /** JSON Schema text, or null when the type accepts anything. */
  input_schema: string | null;
  output_schema: string | null;
  lease_seconds: number;
  created_at: string;
  updated_at: string;
}

/** An event posted to `POST /events`. */
export interface EventRow {
  id: string;
  workspace_id: string;
  type: string;
  data: string;
  idempotency_key: string | null;
  /** JSON array of the ids of the executions it started. */
  executions: string;
  created_at: string;
}

/** One cron trigger of an enabled workflow. */
export interface ScheduleRow {
  workflow_id: string;
  trigger_index: number;
  workspace_id: string;
  cron: string;
  timezone: string;
  /** Epoch ms of the next fire. */
  next_fire_at: number;
  last_fired_at: string | null;
}

/** One event trigger of an enabled workflow. */
export interface WorkflowTriggerRow {
  workflow_id: string;
  trigger_index: number;
  workspace_id: string;
  event_type: string;
}

/** A webhook subscription: where to POST which event types, and the secret that signs them. */
export interface WebhookRow {
  id: string;
  workspace_id: string;
  url: string;
  description: string | null;
  /** JSON array of event types; `[]` or one containing `*` means every type. */
  event_types: string;
  enabled: number;
  /** Standard Webhooks secret (`whsec_` + base64); kept to sign, shown only at creation. */
  secret: string;
  created_at: string;
  updated_at: string;
}

/** The workspace's secret for deliveries to workflow and execution `webhook_url`s. */
export interface WebhookSigningSecretRow {
  workspace_id: string;
  secret: string;
  /** The secret before the last rotation; deliveries are signed with it too until it expires. */
  previous_secret: string | null;
  previous_expires_at: string | null;
  created_at: string;
  rotated_at: string | null;
}

/** One event to deliver to one target: the outbox row, written by a trigger with its event. */
export interface WebhookDeliveryRow {
  /** `dl_<event>_<webhook>`, or `dl_<event>` for the execution's `webhook_url`; the `webhook-id`. */
  id: string;
  workspace_id: string;
  event_id: string;
  event_type: string;
  execution_id: string;
  /** The subscription, or null for the execution's `webhook_url`. */
  webhook_id: string | null;
  /** The execution's `webhook_url`; null for a subscription (its current url is used). */
  url: string | null;
  /** `pending`, `delivered`, `failed` (attempts used up) or `cancelled` (subscription disabled). */
  status: string;
  /** Attempts started. */
  attempts: number;
  /** Epoch ms: when a pending delivery is due; while an attempt runs, when its lease expires. */
  next_attempt_at: number | null;
  /** The dispatcher holding the running attempt; null between attempts. */
  lease_owner: string | null;
  /** When the last attempt started. */
  attempted_at: string | null;
  created_at: string;
  completed_at: string | null;
}

/** One try of a delivery. */
export interface WebhookAttemptRow {
  delivery_id: string;
  attempt: number;
  workspace_id: string;
  url: string;
  /** The HTTP status answered; null when there was no answer (timeout, refused, lost). */
  status_code: number | null;
  latency_ms: number | null;
  error: string | null;
  started_at: string;
}

/** A workspace secret (migration 0008); the API never shows `value`, `iv` or `tag`. */
export interface SecretRow {
  workspace_id: string;
  name: string;
  /** 1: `value` is AES-256-GCM ciphertext (base64) under WEFT_SECRETS_KEY; 0: the value itself. */
  encrypted: number;
  value: string;
  /** Base64 nonce of an encrypted value; null for a plain one. */
  iv: string | null;
  /** Base64 GCM authentication tag of an encrypted value; null for a plain one. */
  tag: string | null;
  created_at: string;
  updated_at: string;
}
