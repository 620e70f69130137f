import type { EgressPolicy } from '../egress/egress-policy.js';

/**
 * A task type: what a step's `type` names. Built-ins, in-process plugins and types declared for
 * external workers all share this descriptor; their JSON Schemas take part in definition
 * validation (required inputs, referenced output fields).
 */

/** A JSON Schema object (2020-12). */
export type JsonSchema = Record<string, unknown>;

/** Where a task type comes from. */
export type TaskTypeSource = 'builtin' | 'plugin' | 'declared';

/** What a handler gets besides its input. */
export interface TaskContext {
  /** Fires when the execution is cancelled or the attempt times out; handlers stop promptly. */
  signal: AbortSignal;
  executionId: string;
  stepId: string;
  attempt: number;
  /** The step's per-attempt `timeout_seconds` (of its fallback when that runs), null when none. */
  timeoutSeconds: number | null;
  /** Process configuration (LLM endpoint and the like). */
  config: TaskProcessConfig;
  /** The execution's artifacts: files stored beside it (SPEC §3.1), attributed to this step. */
  artifacts: TaskArtifacts;
}

/** What a stored artifact is, as a handler (and the `http` task's `save_as` output) sees it. */
export interface StoredArtifact {
  name: string;
  size: number;
  content_type: string;
  sha256: string;
}

/** Artifacts as handlers put them. */
export interface TaskArtifacts {
  /**
   * Stores `data` (bytes, text, or a stream of chunks, which is never held whole in memory) as the
   * artifact `name` of the execution, replacing one of that name. Throws on a bad name (400) or
   * past `WEFT_ARTIFACT_MAX_BYTES` (413); nothing is kept then.
   */
  put(
    name: string,
    data: Uint8Array | string | AsyncIterable<Uint8Array | string>,
    contentType?: string,
  ): Promise<StoredArtifact>;
}

/** What handlers read of the process configuration. */
export interface TaskProcessConfig {
  /** `WEFT_LLM_BASE_URL`. */
  llmBaseUrl: string | undefined;
  /** `WEFT_LLM_API_KEY`: sent to `llmBaseUrl` only. */
  llmApiKey: string | undefined;
  /** `WEFT_LLM_MODEL`: the model of an `llm.chat` step that names none. */
  llmModel?: string | undefined;
  /** The egress policy every outbound request goes through (see `egressClientFor`); default policy when absent. */
  egress?: EgressPolicy;
  /** `WEFT_HTTP_MAX_RESPONSE_BYTES`; 10 MiB when absent. */
  httpMaxResponseBytes?: number;
  /** `WEFT_HTTP_DEFAULT_TIMEOUT_MS`; 30 s when absent. */
  httpDefaultTimeoutMs?: number;
  /** `WEFT_DEFAULT_STEP_TIMEOUT_SECONDS`: bound of an attempt without `timeout_seconds`; 3600 when absent. */
  defaultStepTimeoutSeconds?: number;
}

/**
 * Runs one attempt. Returns the output (or a `WaitUntil` to park the step); throws to fail it:
 * a `NonRetryableError` skips the remaining attempts, any other error is retried.
 */
export type TaskHandler = (input: unknown, context: TaskContext) => Promise<unknown>;

/** Describes a task type to validation, the API (`GET /task-types`) and the engine. */
export interface TaskTypeDescriptor {
  type: string;
  description: string;
  source: TaskTypeSource;
  /** Schema of the step input after templating; required keys are checked at validation. */
  inputSchema?: JsonSchema;
  /** Schema of the output; closed objects let validation reject references to unknown fields. */
  outputSchema?: JsonSchema;
  /** The in-process handler; a type without one is served by external workers. */
  handler?: TaskHandler;
}

/** The task types known to one workspace: the process's types plus the workspace's declared ones. */
export interface TaskTypeLookup {
  /** The descriptor of a type, or undefined when the workspace knows no such type. */
  get(type: string): TaskTypeDescriptor | undefined;
  /** Every known type name (for suggestions in error messages). */
  names(): string[];
}

/** Declares a task type; used by the built-ins and by plugin modules. */
export function defineTask(descriptor: Omit<TaskTypeDescriptor, 'source'> & { source?: TaskTypeSource }) {
  return Object.freeze({ source: 'plugin', ...descriptor }) as TaskTypeDescriptor;
}
