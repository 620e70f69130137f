/**
 * Named types of the API's requests and answers, read from the generated `api-types/` (the
 * server's OpenAPI document) so they cannot drift from the routes. When a route changes, run
 * `npm run sdk:types` and these follow.
 */
import type { paths } from './api-types/index.js';

/** Every route of the API, keyed by path (with its `/api/v1` prefix) then method. */
export type ApiPaths = paths;

type Method = 'get' | 'put' | 'post' | 'patch' | 'delete';
type Operation<P extends keyof ApiPaths, M extends Method> = NonNullable<ApiPaths[P][M]>;
type JsonContent<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;

/** The JSON body of the `status` answer of `M path`. */
export type ResponseOf<P extends keyof ApiPaths, M extends Method, S extends number = 200> =
  Operation<P, M> extends { responses: infer Responses }
    ? S extends keyof Responses
      ? JsonContent<Responses[S]>
      : never
    : never;

/** The JSON request body of `M path`. */
export type RequestOf<P extends keyof ApiPaths, M extends Method> =
  Operation<P, M> extends { requestBody?: infer Body } ? JsonContent<NonNullable<Body>> : never;

/** The query parameters of `M path`. */
export type QueryOf<P extends keyof ApiPaths, M extends Method> =
  Operation<P, M> extends { parameters: { query?: infer Query } } ? NonNullable<Query> : never;

/** A workflow: metadata and the definition of one version. */
export type Workflow = ResponseOf<'/api/v1/workflows/{id}', 'get'>;
/** A page of workflows. */
export type WorkflowPage = ResponseOf<'/api/v1/workflows', 'get'>;
/** Filters and paging of the workflow list. */
export type WorkflowListQuery = QueryOf<'/api/v1/workflows', 'get'>;
/** A workflow definition as sent to create, update and validate. */
export type WorkflowDefinition = RequestOf<'/api/v1/workflows', 'post'>;
/** Metadata changed without a new version (PATCH). */
export type WorkflowPatch = RequestOf<'/api/v1/workflows/{id}', 'patch'>;
/** The versions of a workflow. */
export type WorkflowVersionPage = ResponseOf<'/api/v1/workflows/{id}/versions', 'get'>;
/** Starter definitions to create workflows from. */
export type TemplatePage = ResponseOf<'/api/v1/templates', 'get'>;
/** `{valid, errors, warnings, plan}` of a definition. */
export type ValidationReport = ResponseOf<'/api/v1/workflows/validate', 'post'>;

/** An execution with its steps. */
export type Execution = ResponseOf<'/api/v1/executions/{id}', 'get'>;
/** A page of executions. */
export type ExecutionPage = ResponseOf<'/api/v1/executions', 'get'>;
/** Filters and paging of the execution list. */
export type ExecutionListQuery = QueryOf<'/api/v1/executions', 'get'>;
/** Filters and paging of one workflow's execution list (those of the execution list but `workflow_id`). */
export type WorkflowExecutionListQuery = QueryOf<'/api/v1/workflows/{id}/executions', 'get'>;
/** How to start an execution of a saved workflow. */
export type StartExecutionRequest = RequestOf<'/api/v1/workflows/{id}/executions', 'post'>;
/** Many starts of a saved workflow: `{version?, executions: [start, ...]}`. */
export type StartBatchRequest = RequestOf<'/api/v1/workflows/{id}/executions/batch', 'post'>;
/** The executions a batch started, in order: `{items}`. */
export type StartedBatch = ResponseOf<'/api/v1/workflows/{id}/executions/batch', 'post', 202>;
/** An ad-hoc run of an inline definition. */
export type AdhocExecutionRequest = RequestOf<'/api/v1/executions', 'post'>;
/** `{id, status, progress}` of an execution. */
export type ExecutionStatus = ResponseOf<'/api/v1/executions/{id}/status', 'get'>;
/** Per step and attempt: queued, started and ended times. */
export type ExecutionTimeline = ResponseOf<'/api/v1/executions/{id}/timeline', 'get'>;
/** What sending a signal answered: `{id, name, consumed_by_step}`. */
export type SignalSent = ResponseOf<'/api/v1/executions/{id}/signals/{name}', 'post', 202>;
/** A page of an execution's signals, newest first. */
export type SignalPage = ResponseOf<'/api/v1/executions/{id}/signals', 'get'>;
/** A page of an execution's event log. */
export type ExecutionEventPage = ResponseOf<'/api/v1/executions/{id}/events', 'get'>;
/** Paging and order of the event log. */
export type ExecutionEventQuery = QueryOf<'/api/v1/executions/{id}/events', 'get'>;
/** `{from_step?}` of a retry. */
export type RetryRequest = RequestOf<'/api/v1/executions/{id}/retry', 'post'>;
/** A page of a `for_each` step's items, by index. */
export type StepItemPage = ResponseOf<'/api/v1/executions/{id}/steps/{step_id}/items', 'get'>;
/** Filters and paging of a step's items. */
export type StepItemQuery = QueryOf<'/api/v1/executions/{id}/steps/{step_id}/items', 'get'>;
/** What a cleanup answers: the soft-deleted execution and what was removed. */
export type ExecutionCleanup = ResponseOf<'/api/v1/executions/{id}/cleanup', 'post'>;
/** Options of a cleanup (`delete_artifacts`). */
export type ExecutionCleanupQuery = QueryOf<'/api/v1/executions/{id}/cleanup', 'post'>;
/** The definition an execution runs (its pinned version, or its ad-hoc definition) with its plan. */
export type ExecutionDefinition = ResponseOf<'/api/v1/executions/{id}/definition', 'get'>;

/** A task type as the registry lists it (built-in, plugin or declared). */
export type TaskType = ResponseOf<'/api/v1/task-types/{type}', 'get'>;
/** The task types of the workspace. */
export type TaskTypePage = ResponseOf<'/api/v1/task-types', 'get'>;
/** What declaring an external task type sends. */
export type TaskTypeDeclaration = RequestOf<'/api/v1/task-types/{type}', 'put'>;
/** A long-poll request of a worker. */
export type PollRequest = RequestOf<'/api/v1/tasks/poll', 'post'>;
/** A task leased to a worker: one attempt of one step. */
export type Task = ResponseOf<'/api/v1/tasks/poll', 'post'>['tasks'][number];
/** A worker seen polling: `{worker_id, types, key_id, key_name, first_seen_at, last_poll_at, active}`. */
export type Worker = ResponseOf<'/api/v1/workers', 'get'>['items'][number];
/** A page of the workers seen recently, latest poll first. */
export type WorkerPage = ResponseOf<'/api/v1/workers', 'get'>;
/** Filters (`active`) and paging of the worker list. */
export type WorkerListQuery = QueryOf<'/api/v1/workers', 'get'>;
/** The answer of a heartbeat: the new lease end, and whether the worker must stop. */
export type HeartbeatResult = ResponseOf<'/api/v1/tasks/{id}/heartbeat', 'post'>;
/** How a task failed, as sent to `/tasks/{id}/fail`. */
export type TaskFailure = RequestOf<'/api/v1/tasks/{id}/fail', 'post'>['error'];
/** The step a complete, fail or release settled. */
export type TaskSettlement = ResponseOf<'/api/v1/tasks/{id}/complete', 'post'>;

/** What `POST /events` answers: the event id and the executions it started. */
export type EventOutcome = ResponseOf<'/api/v1/events', 'post', 202>;
/** An event to post. */
export type EventPost = RequestOf<'/api/v1/events', 'post'>;
/** A posted event with the executions it started. */
export type PostedEvent = ResponseOf<'/api/v1/events/{id}', 'get'>;
/** A page of posted events. */
export type PostedEventPage = ResponseOf<'/api/v1/events', 'get'>;
/** A webhook subscription (its secret only in the answer to create). */
export type WebhookCreated = ResponseOf<'/api/v1/webhooks', 'post', 201>;
/** A webhook subscription. */
export type Webhook = ResponseOf<'/api/v1/webhooks/{id}', 'get'>;
/** What creating a subscription takes. */
export type WebhookCreate = RequestOf<'/api/v1/webhooks', 'post'>;
/** What a subscription PATCH changes. */
export type WebhookPatch = RequestOf<'/api/v1/webhooks/{id}', 'patch'>;
/** A page of subscriptions. */
export type WebhookPage = ResponseOf<'/api/v1/webhooks', 'get'>;
/** A page of deliveries with their attempts. */
export type WebhookDeliveryPage = ResponseOf<'/api/v1/webhooks/{id}/deliveries', 'get'>;
/** A workspace secret's metadata (never its value). */
export type Secret = ResponseOf<'/api/v1/secrets/{name}', 'get'>;
/** A page of secret metadata, by name. */
export type SecretPage = ResponseOf<'/api/v1/secrets', 'get'>;
/** Execution counts and durations. */
export type ExecutionStats = ResponseOf<'/api/v1/executions/stats', 'get'>;
/** Filters of the execution stats. */
export type ExecutionStatsQuery = QueryOf<'/api/v1/executions/stats', 'get'>;
/** Success rate, durations and per-step figures of a workflow. */
export type WorkflowMetrics = ResponseOf<'/api/v1/workflows/{id}/metrics', 'get'>;

/** An artifact's metadata: `{name, size, content_type, sha256, step_id, created_at}`. */
export type Artifact = ResponseOf<'/api/v1/executions/{id}/artifacts/{name}', 'put', 201>;
/** A page of an execution's artifacts, by name. */
export type ArtifactPage = ResponseOf<'/api/v1/executions/{id}/artifacts', 'get'>;
/** Paging of the artifact list. */
export type ArtifactListQuery = QueryOf<'/api/v1/executions/{id}/artifacts', 'get'>;
