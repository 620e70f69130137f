import createFetchClient, { type Client } from 'openapi-fetch';
import { unwrap } from './api-error.js';
import { ArtifactsApi } from './artifacts-client.js';
import { result, startAndWait, type WaitOptions } from './execution-waits.js';
import type {
  AdhocExecutionRequest,
  ApiPaths,
  EventOutcome,
  EventPost,
  Execution,
  ExecutionCleanup,
  ExecutionCleanupQuery,
  ExecutionDefinition,
  ExecutionEventPage,
  ExecutionEventQuery,
  ExecutionListQuery,
  ExecutionPage,
  ExecutionStats,
  ExecutionStatsQuery,
  ExecutionStatus,
  ExecutionTimeline,
  HeartbeatResult,
  PollRequest,
  PostedEvent,
  PostedEventPage,
  RetryRequest,
  Secret,
  SecretPage,
  SignalPage,
  SignalSent,
  StartBatchRequest,
  StartExecutionRequest,
  StartedBatch,
  StepItemPage,
  StepItemQuery,
  Task,
  TaskFailure,
  TaskSettlement,
  TaskType,
  TaskTypeDeclaration,
  TaskTypePage,
  TemplatePage,
  ValidationReport,
  Webhook,
  WebhookCreate,
  WebhookCreated,
  WebhookDeliveryPage,
  WebhookPage,
  WebhookPatch,
  WorkerListQuery,
  WorkerPage,
  Workflow,
  WorkflowDefinition,
  WorkflowExecutionListQuery,
  WorkflowListQuery,
  WorkflowMetrics,
  WorkflowPage,
  WorkflowPatch,
  WorkflowVersionPage,
} from './types.js';

/**
 * The typed HTTP client of the Weft API. Requests and answers are typed from the server's
 * OpenAPI document (`api-types/`); calls resolve to the answer's body and throw a
 * `WeftApiError` on any non-2xx answer. Network failures reject with fetch's own error.
 */

/** How to reach a Weft server. */
export interface ClientOptions {
  /** The server's root URL, e.g. `http://127.0.0.1:8080` (a trailing `/api/v1` is accepted too). */
  baseUrl: string;
  /** An API key (`Authorization: Bearer <key>`). */
  apiKey: string;
  /** Act in another workspace (admin keys only): sent as `X-Workspace-Id`. */
  workspaceId?: string;
  /** A fetch implementation (tests, proxies); defaults to the global fetch. */
  fetch?: (request: Request) => Promise<Response>;
}

/** Options of one call. */
export interface CallOptions {
  /** Aborts the request (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** The raw openapi-fetch client: every route, typed, answering `{data, error, response}`. */
export type RawClient = Client<ApiPaths>;

/** Strips a trailing slash and `/api/v1`: the generated paths carry the prefix themselves. */
export function rootUrl(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
}

/** A client of one Weft server with one API key. */
export class WeftClient {
  /** The openapi-fetch client, for routes without a convenience method here. */
  readonly raw: RawClient;
  /** Artifacts: files of an execution, uploaded and downloaded as streams (artifacts-client.ts). */
  readonly artifacts: ArtifactsApi;

  constructor(options: ClientOptions) {
    const headers: Record<string, string> = { authorization: `Bearer ${options.apiKey}` };
    if (options.workspaceId) headers['x-workspace-id'] = options.workspaceId;
    const baseUrl = rootUrl(options.baseUrl);
    this.raw = createFetchClient<ApiPaths>({ baseUrl, headers, ...(options.fetch ? { fetch: options.fetch } : {}) });
    const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
    this.artifacts = new ArtifactsApi({ rootUrl: baseUrl, headers, fetch: send }, this.raw);
  }

  /** Workflows: definitions with versions. */
  readonly workflows = {
    /** Creates a workflow (version 1). */
    create: (definition: WorkflowDefinition, options?: CallOptions): Promise<Workflow> =>
      unwrap('POST', this.raw.POST('/api/v1/workflows', { body: definition, ...options })),
    /** The latest version, or `version`. */
    get: (id: string, query: { version?: number } = {}, options?: CallOptions): Promise<Workflow> =>
      unwrap('GET', this.raw.GET('/api/v1/workflows/{id}', { params: { path: { id }, query }, ...options })),
    /** One page of workflows, newest first. */
    list: (query: WorkflowListQuery = {}, options?: CallOptions): Promise<WorkflowPage> =>
      unwrap('GET', this.raw.GET('/api/v1/workflows', { params: { query }, ...options })),
    /** Saves a new definition as the next version. */
    update: (id: string, definition: WorkflowDefinition, options?: CallOptions): Promise<Workflow> =>
      unwrap('PUT', this.raw.PUT('/api/v1/workflows/{id}', { params: { path: { id } }, body: definition, ...options })),
    /** Changes name, description, enabled, labels or webhook_url without a new version. */
    patch: (id: string, fields: WorkflowPatch, options?: CallOptions): Promise<Workflow> =>
      unwrap('PATCH', this.raw.PATCH('/api/v1/workflows/{id}', { params: { path: { id } }, body: fields, ...options })),
    /** The versions of a workflow. */
    versions: (id: string, options?: CallOptions): Promise<WorkflowVersionPage> =>
      unwrap('GET', this.raw.GET('/api/v1/workflows/{id}/versions', { params: { path: { id } }, ...options })),
    /** One page of the workflow's executions, newest first (the filters of `executions.list`). */
    executions: (id: string, query: WorkflowExecutionListQuery = {}, options?: CallOptions): Promise<ExecutionPage> =>
      unwrap('GET', this.raw.GET('/api/v1/workflows/{id}/executions', { params: { path: { id }, query }, ...options })),
    /** Soft-deletes a workflow; 409 while executions run unless `cancelRunning`. */
    delete: (id: string, query: { cancel_running?: boolean } = {}, options?: CallOptions): Promise<unknown> =>
      unwrap('DELETE', this.raw.DELETE('/api/v1/workflows/{id}', { params: { path: { id }, query }, ...options })),
    /** Validates a definition without saving it: `{valid, errors, warnings, plan}`. */
    validate: (definition: WorkflowDefinition, options?: CallOptions): Promise<ValidationReport> =>
      unwrap('POST', this.raw.POST('/api/v1/workflows/validate', { body: definition, ...options })),
  };

  /** Executions: runs of workflows and their lifecycle. */
  readonly executions = {
    /** Starts an execution of a saved workflow (202). */
    start: (workflowId: string, request: StartExecutionRequest = {}, options?: CallOptions): Promise<Execution> =>
      unwrap(
        'POST',
        this.raw.POST('/api/v1/workflows/{id}/executions', {
          params: { path: { id: workflowId } },
          body: request,
          ...options,
        }),
      ),
    /**
     * Starts an execution and waits for it to end (slices of up to 60 s of `wait_seconds`):
     * resolves to the completed execution; throws `ExecutionFailedError` (with the execution) when
     * it failed or was cancelled, `ExecutionWaitTimeoutError` past `timeoutSeconds`.
     */
    startAndWait: (workflowId: string, request: StartExecutionRequest = {}, options: WaitOptions = {}) =>
      startAndWait(this.raw, workflowId, request, options),
    /** Waits for an existing execution to end (polling with backoff); resolves and throws like `startAndWait`. */
    result: (id: string, options: WaitOptions = {}): Promise<Execution> => result(this.raw, id, options),
    /**
     * Starts up to 1,000 executions of a saved workflow in one request, all or none (202); the
     * executions come back in the order of `request.executions`.
     */
    startBatch: (workflowId: string, request: StartBatchRequest, options?: CallOptions): Promise<StartedBatch> =>
      unwrap(
        'POST',
        this.raw.POST('/api/v1/workflows/{id}/executions/batch', {
          params: { path: { id: workflowId } },
          body: request,
          ...options,
        }),
      ),
    /** Runs an inline definition once (202). */
    startAdhoc: (request: AdhocExecutionRequest, options?: CallOptions): Promise<Execution> =>
      unwrap('POST', this.raw.POST('/api/v1/executions', { body: request, ...options })),
    /** An execution with its steps. */
    get: (id: string, options?: CallOptions): Promise<Execution> =>
      unwrap('GET', this.raw.GET('/api/v1/executions/{id}', { params: { path: { id } }, ...options })),
    /** One page of executions, newest first. */
    list: (query: ExecutionListQuery = {}, options?: CallOptions): Promise<ExecutionPage> =>
      unwrap('GET', this.raw.GET('/api/v1/executions', { params: { query }, ...options })),
    /** `{id, status, progress}`. */
    status: (id: string, options?: CallOptions): Promise<ExecutionStatus> =>
      unwrap('GET', this.raw.GET('/api/v1/executions/{id}/status', { params: { path: { id } }, ...options })),
    /** Per step and attempt: queued, started and ended times. */
    timeline: (id: string, options?: CallOptions): Promise<ExecutionTimeline> =>
      unwrap('GET', this.raw.GET('/api/v1/executions/{id}/timeline', { params: { path: { id } }, ...options })),
    /** One page of the execution's event log (newest first unless `order: 'asc'`). */
    events: (id: string, query: ExecutionEventQuery = {}, options?: CallOptions): Promise<ExecutionEventPage> =>
      unwrap('GET', this.raw.GET('/api/v1/executions/{id}/events', { params: { path: { id }, query }, ...options })),
    /** Starts an execution created with `start: false`. */
    run: (id: string, options?: CallOptions): Promise<Execution> =>
      unwrap(
        'POST',
        this.raw.POST('/api/v1/executions/{id}/start', { params: { path: { id } }, body: {}, ...options }),
      ),
    /** Cancels a pending, running or paused execution. */
    cancel: (id: string, options?: CallOptions): Promise<Execution> =>
      unwrap(
        'POST',
        this.raw.POST('/api/v1/executions/{id}/cancel', { params: { path: { id } }, body: {}, ...options }),
      ),
    /** Pauses a running execution: running steps finish, no new step starts. */
    pause: (id: string, options?: CallOptions): Promise<Execution> =>
      unwrap(
        'POST',
        this.raw.POST('/api/v1/executions/{id}/pause', { params: { path: { id } }, body: {}, ...options }),
      ),
    /** Resumes a paused execution. */
    resume: (id: string, options?: CallOptions): Promise<Execution> =>
      unwrap(
        'POST',
        this.raw.POST('/api/v1/executions/{id}/resume', { params: { path: { id } }, body: {}, ...options }),
      ),
    /**
     * Sends signal `name` with `data` to an execution (202): the `wait_for_signal` step that waited
     * longest for it completes with `data` (`consumed_by_step`), else the signal is kept for the
     * first step that waits for it. `idempotencyKey` makes a repeat answer the first signal.
     */
    sendSignal: (
      id: string,
      name: string,
      data: unknown = null,
      request: { idempotencyKey?: string } = {},
      options?: CallOptions,
    ): Promise<SignalSent> =>
      unwrap(
        'POST',
        this.raw.POST('/api/v1/executions/{id}/signals/{name}', {
          params: {
            path: { id, name },
            ...(request.idempotencyKey === undefined ? {} : { header: { 'idempotency-key': request.idempotencyKey } }),
          },
          body: { data },
          ...options,
        }),
      ),
    /** One page of an execution's signals (newest first) with the step that consumed each. */
    signals: (
      id: string,
      query: { limit?: number; cursor?: string } = {},
      options?: CallOptions,
    ): Promise<SignalPage> =>
      unwrap('GET', this.raw.GET('/api/v1/executions/{id}/signals', { params: { path: { id }, query }, ...options })),
    /** Re-runs a settled execution, from its failed steps or from `from_step`. */
    retry: (id: string, request: RetryRequest = {}, options?: CallOptions): Promise<Execution> =>
      unwrap(
        'POST',
        this.raw.POST('/api/v1/executions/{id}/retry', { params: { path: { id } }, body: request, ...options }),
      ),
    /** One page of a `for_each` step's items, by index (`status` filters them). */
    items: (id: string, stepId: string, query: StepItemQuery = {}, options?: CallOptions): Promise<StepItemPage> =>
      unwrap(
        'GET',
        this.raw.GET('/api/v1/executions/{id}/steps/{step_id}/items', {
          params: { path: { id, step_id: stepId }, query },
          ...options,
        }),
      ),
    /** The definition the execution runs (its pinned version, or its ad-hoc definition) and its plan. */
    definition: (id: string, options?: CallOptions): Promise<ExecutionDefinition> =>
      unwrap('GET', this.raw.GET('/api/v1/executions/{id}/definition', { params: { path: { id } }, ...options })),
    /** Soft-deletes a finished execution; `delete_artifacts: true` deletes its artifacts' files too. */
    cleanup: (id: string, query: ExecutionCleanupQuery = {}, options?: CallOptions): Promise<ExecutionCleanup> =>
      unwrap('POST', this.raw.POST('/api/v1/executions/{id}/cleanup', { params: { path: { id }, query }, ...options })),
  };

  /** Starter templates: definitions to create workflows from. */
  readonly templates = {
    /** Every starter template (one page). */
    list: (options?: CallOptions): Promise<TemplatePage> =>
      unwrap('GET', this.raw.GET('/api/v1/templates', { ...options })),
  };

  /** Workers seen polling the workspace for tasks (admin and member keys). */
  readonly workers = {
    /** One page of the workers that polled in the last 7 days, latest poll first; `active` filters. */
    list: (query: WorkerListQuery = {}, options?: CallOptions): Promise<WorkerPage> =>
      unwrap('GET', this.raw.GET('/api/v1/workers', { params: { query }, ...options })),
  };

  /** Events: posting one starts the workflows whose triggers match. */
  readonly events = {
    /** Posts an event (202); `idempotency_key` makes a repeat within 24 h start nothing new. */
    post: (event: EventPost, options?: CallOptions): Promise<EventOutcome> =>
      unwrap('POST', this.raw.POST('/api/v1/events', { body: event, ...options })),
    /** One page of posted events, newest first. */
    list: (
      query: { type?: string; limit?: number; cursor?: string } = {},
      options?: CallOptions,
    ): Promise<PostedEventPage> => unwrap('GET', this.raw.GET('/api/v1/events', { params: { query }, ...options })),
    /** One posted event with the executions it started. */
    get: (id: string, options?: CallOptions): Promise<PostedEvent> =>
      unwrap('GET', this.raw.GET('/api/v1/events/{id}', { params: { path: { id } }, ...options })),
  };

  /** Webhook subscriptions and their delivery logs. */
  readonly webhooks = {
    /** Subscribes a URL to event types (201); the answer carries the signing secret, once. */
    create: (subscription: WebhookCreate, options?: CallOptions): Promise<WebhookCreated> =>
      unwrap('POST', this.raw.POST('/api/v1/webhooks', { body: subscription, ...options })),
    /** One page of subscriptions. */
    list: (options?: CallOptions): Promise<WebhookPage> =>
      unwrap('GET', this.raw.GET('/api/v1/webhooks', { ...options })),
    /** One subscription. */
    get: (id: string, options?: CallOptions): Promise<Webhook> =>
      unwrap('GET', this.raw.GET('/api/v1/webhooks/{id}', { params: { path: { id } }, ...options })),
    /** Changes a subscription. */
    patch: (id: string, fields: WebhookPatch, options?: CallOptions): Promise<Webhook> =>
      unwrap('PATCH', this.raw.PATCH('/api/v1/webhooks/{id}', { params: { path: { id } }, body: fields, ...options })),
    /** Deletes a subscription. */
    delete: (id: string, options?: CallOptions): Promise<unknown> =>
      unwrap('DELETE', this.raw.DELETE('/api/v1/webhooks/{id}', { params: { path: { id } }, ...options })),
    /** A subscription's deliveries, each with its attempts. */
    deliveries: (id: string, options?: CallOptions): Promise<WebhookDeliveryPage> =>
      unwrap('GET', this.raw.GET('/api/v1/webhooks/{id}/deliveries', { params: { path: { id } }, ...options })),
  };

  /**
   * Workspace secrets, read by step inputs as `{{ secrets.NAME }}`. Values are write-only: every
   * answer is metadata. Writing and deleting need an admin key.
   */
  readonly secrets = {
    /** Creates or replaces a secret's value; resolves to its metadata. */
    put: (name: string, value: string, options?: CallOptions): Promise<Secret> =>
      unwrap(
        'PUT',
        this.raw.PUT('/api/v1/secrets/{name}', { params: { path: { name } }, body: { value }, ...options }),
      ),
    /** One page of the workspace's secrets, by name. */
    list: (query: { limit?: number; cursor?: string } = {}, options?: CallOptions): Promise<SecretPage> =>
      unwrap('GET', this.raw.GET('/api/v1/secrets', { params: { query }, ...options })),
    /** One secret's metadata. */
    get: (name: string, options?: CallOptions): Promise<Secret> =>
      unwrap('GET', this.raw.GET('/api/v1/secrets/{name}', { params: { path: { name } }, ...options })),
    /** Deletes a secret. */
    delete: (name: string, options?: CallOptions): Promise<unknown> =>
      unwrap('DELETE', this.raw.DELETE('/api/v1/secrets/{name}', { params: { path: { name } }, ...options })),
  };

  /** Figures: execution stats and a workflow's metrics. */
  readonly stats = {
    /** Counts by status and durations, overall and per workflow. */
    executions: (query: ExecutionStatsQuery = {}, options?: CallOptions): Promise<ExecutionStats> =>
      unwrap('GET', this.raw.GET('/api/v1/executions/stats', { params: { query }, ...options })),
    /** Success rate, p50/p95/max durations and per-step figures of a workflow. */
    workflow: (id: string, options?: CallOptions): Promise<WorkflowMetrics> =>
      unwrap('GET', this.raw.GET('/api/v1/workflows/{id}/metrics', { params: { path: { id } }, ...options })),
  };

  /** Task types: the registry, and declaring types served by external workers. */
  readonly taskTypes = {
    /** Declares (or updates) an external task type; 409 for a built-in or plugin name. */
    declare: (type: string, declaration: TaskTypeDeclaration = {}, options?: CallOptions): Promise<TaskType> =>
      unwrap(
        'PUT',
        this.raw.PUT('/api/v1/task-types/{type}', { params: { path: { type } }, body: declaration, ...options }),
      ),
    /** Every task type the workspace knows. */
    list: (options?: CallOptions): Promise<TaskTypePage> =>
      unwrap('GET', this.raw.GET('/api/v1/task-types', { ...options })),
    /** One task type. */
    get: (type: string, options?: CallOptions): Promise<TaskType> =>
      unwrap('GET', this.raw.GET('/api/v1/task-types/{type}', { params: { path: { type } }, ...options })),
  };

  /** Tasks: the worker protocol (poll, heartbeat, then complete, fail or release). */
  readonly tasks = {
    /** Leases up to `max_tasks` tasks, waiting up to `wait_seconds` for one to be queued. */
    poll: async (request: PollRequest, options?: CallOptions): Promise<Task[]> =>
      (await unwrap('POST', this.raw.POST('/api/v1/tasks/poll', { body: request, ...options }))).tasks,
    /** Extends the lease; `cancel_requested` means stop and do not complete. 409 LEASE_LOST: drop the task. */
    heartbeat: (id: string, options?: CallOptions): Promise<HeartbeatResult> =>
      unwrap('POST', this.raw.POST('/api/v1/tasks/{id}/heartbeat', { params: { path: { id } }, body: {}, ...options })),
    /** Completes the task with its output. */
    complete: (id: string, output: unknown, options?: CallOptions): Promise<TaskSettlement> =>
      unwrap(
        'POST',
        this.raw.POST('/api/v1/tasks/{id}/complete', { params: { path: { id } }, body: { output }, ...options }),
      ),
    /** Fails the attempt; `retryable: false` skips the remaining attempts. */
    fail: (id: string, error: TaskFailure, options?: CallOptions): Promise<TaskSettlement> =>
      unwrap(
        'POST',
        this.raw.POST('/api/v1/tasks/{id}/fail', { params: { path: { id } }, body: { error }, ...options }),
      ),
    /** Hands the task back to the queue without using up an attempt. */
    release: (id: string, options?: CallOptions): Promise<TaskSettlement> =>
      unwrap('POST', this.raw.POST('/api/v1/tasks/{id}/release', { params: { path: { id } }, body: {}, ...options })),
  };
}

/** Creates a client of the Weft API. */
export function createClient(options: ClientOptions): WeftClient {
  return new WeftClient(options);
}
