/**
 * What `/openapi.json` says beyond the route schemas, so generated clients are usable as they
 * come: a stable camelCase `operationId` per operation (one table here, which a test holds
 * complete and unique: a route added without one fails it), tags with descriptions, a relative
 * `servers` entry, real response descriptions, errors as `application/problem+json` (what the
 * server sends), the statuses every operation can answer (413/415 with a body, 503 where the
 * database is read), open health probes, and optional bodies where a bare POST is accepted.
 */

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** `METHOD path` → operationId. */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  'GET /healthz': 'getLiveness',
  'GET /readyz': 'getReadiness',
  'GET /metrics': 'getPrometheusMetrics',
  'POST /api/v1/workspaces': 'createWorkspace',
  'GET /api/v1/workspaces': 'listWorkspaces',
  'POST /api/v1/api-keys': 'createApiKey',
  'GET /api/v1/api-keys': 'listApiKeys',
  'DELETE /api/v1/api-keys/{id}': 'revokeApiKey',
  'POST /api/v1/workflows': 'createWorkflow',
  'GET /api/v1/workflows': 'listWorkflows',
  'POST /api/v1/workflows/validate': 'validateWorkflow',
  'GET /api/v1/workflows/{id}': 'getWorkflow',
  'PUT /api/v1/workflows/{id}': 'replaceWorkflowDefinition',
  'PATCH /api/v1/workflows/{id}': 'updateWorkflow',
  'DELETE /api/v1/workflows/{id}': 'deleteWorkflow',
  'GET /api/v1/workflows/{id}/versions': 'listWorkflowVersions',
  'GET /api/v1/templates': 'listTemplates',
  'POST /api/v1/workflows/{id}/executions': 'startWorkflowExecution',
  'GET /api/v1/workflows/{id}/executions': 'listWorkflowExecutions',
  'POST /api/v1/workflows/{id}/executions/batch': 'startWorkflowExecutions',
  'GET /api/v1/workflows/{id}/metrics': 'getWorkflowMetrics',
  'POST /api/v1/executions': 'startAdhocExecution',
  'GET /api/v1/executions': 'listExecutions',
  'GET /api/v1/executions/stats': 'getExecutionStats',
  'GET /api/v1/executions/{id}': 'getExecution',
  'GET /api/v1/executions/{id}/status': 'getExecutionStatus',
  'GET /api/v1/executions/{id}/timeline': 'getExecutionTimeline',
  'GET /api/v1/executions/{id}/events': 'listExecutionEvents',
  'GET /api/v1/executions/{id}/definition': 'getExecutionDefinition',
  'POST /api/v1/executions/{id}/start': 'startExecution',
  'POST /api/v1/executions/{id}/pause': 'pauseExecution',
  'POST /api/v1/executions/{id}/resume': 'resumeExecution',
  'POST /api/v1/executions/{id}/cancel': 'cancelExecution',
  'POST /api/v1/executions/{id}/retry': 'retryExecution',
  'POST /api/v1/executions/{id}/cleanup': 'cleanupExecution',
  'POST /api/v1/executions/{id}/signals/{name}': 'sendSignal',
  'GET /api/v1/executions/{id}/signals': 'listSignals',
  'GET /api/v1/executions/{id}/steps/{step_id}/items': 'listStepItems',
  'GET /api/v1/executions/{id}/deliveries': 'listExecutionDeliveries',
  'PUT /api/v1/executions/{id}/artifacts/{name}': 'uploadArtifact',
  'GET /api/v1/executions/{id}/artifacts/{name}': 'downloadArtifact',
  'DELETE /api/v1/executions/{id}/artifacts/{name}': 'deleteArtifact',
  'GET /api/v1/executions/{id}/artifacts': 'listArtifacts',
  'GET /api/v1/task-types': 'listTaskTypes',
  'GET /api/v1/task-types/{type}': 'getTaskType',
  'PUT /api/v1/task-types/{type}': 'declareTaskType',
  'POST /api/v1/tasks/poll': 'pollTasks',
  'POST /api/v1/tasks/{id}/heartbeat': 'heartbeatTask',
  'POST /api/v1/tasks/{id}/complete': 'completeTask',
  'POST /api/v1/tasks/{id}/fail': 'failTask',
  'POST /api/v1/tasks/{id}/release': 'releaseTask',
  'GET /api/v1/workers': 'listWorkers',
  'POST /api/v1/webhooks': 'createWebhook',
  'GET /api/v1/webhooks': 'listWebhooks',
  'GET /api/v1/webhooks/signing-secret': 'getWebhookSigningSecret',
  'POST /api/v1/webhooks/signing-secret/rotate': 'rotateWebhookSigningSecret',
  'GET /api/v1/webhooks/{id}': 'getWebhook',
  'PATCH /api/v1/webhooks/{id}': 'updateWebhook',
  'DELETE /api/v1/webhooks/{id}': 'deleteWebhook',
  'GET /api/v1/webhooks/{id}/deliveries': 'listWebhookDeliveries',
  'POST /api/v1/events': 'postEvent',
  'GET /api/v1/events': 'listEvents',
  'GET /api/v1/events/{id}': 'getEvent',
  'PUT /api/v1/secrets/{name}': 'putSecret',
  'GET /api/v1/secrets/{name}': 'getSecret',
  'DELETE /api/v1/secrets/{name}': 'deleteSecret',
  'GET /api/v1/secrets': 'listSecrets',
};

/** The tags routes use, described. */
const TAGS = [
  { name: 'health', description: 'Liveness, readiness and Prometheus metrics (no API key needed for the probes).' },
  { name: 'workspaces', description: 'Tenants: every other object belongs to one workspace.' },
  { name: 'api-keys', description: 'Bearer keys of a workspace, by role (owner, admin, member, worker).' },
  { name: 'workflows', description: 'Versioned definitions, their metadata, templates and metrics.' },
  {
    name: 'executions',
    description: 'Runs of workflows: start, list, inspect, pause/resume/cancel/retry, signals, items.',
  },
  { name: 'artifacts', description: 'Files that executions produce and consume, streamed.' },
  { name: 'workers', description: 'Task types and the long-poll protocol of external workers.' },
  { name: 'webhooks', description: 'Subscriptions to execution events and their signed deliveries.' },
  { name: 'events', description: 'Posted events that start the workflows whose triggers match.' },
  { name: 'secrets', description: 'Encrypted values that step inputs name; never returned.' },
];

/** Operations whose body may be left out (a bare POST acts like `{}`). */
const OPTIONAL_BODIES = new Set([
  'POST /api/v1/executions/{id}/start',
  'POST /api/v1/executions/{id}/pause',
  'POST /api/v1/executions/{id}/resume',
  'POST /api/v1/executions/{id}/cancel',
  'POST /api/v1/executions/{id}/retry',
  'POST /api/v1/tasks/{id}/heartbeat',
  'POST /api/v1/tasks/{id}/release',
]);

/** Operations that answer without an API key. */
const OPEN_OPERATIONS = new Set(['GET /healthz', 'GET /readyz']);

/** What an error status means, for its response description. */
const ERROR_DESCRIPTIONS: Record<string, string> = {
  '400': 'The request is invalid: the problem lists each failing path.',
  '401': 'No API key, or an unknown or revoked one.',
  '403': "The key's role may not do this.",
  '404': 'No such object in this workspace (objects of other workspaces are not found either).',
  '409': 'The object is not in a state that allows this (the problem names both states).',
  '410': 'Gone.',
  '412': 'A precondition failed.',
  '413': 'The request body (or a task output) is larger than allowed.',
  '415': 'The body has a content type this operation does not read.',
  '416': 'The range cannot be satisfied.',
  '422': 'The request is well-formed but cannot be processed.',
  '429': 'Too many requests (the problem says which limit).',
  '500': 'An internal error (logged with its request id).',
  '503': 'The database is unavailable; retry later.',
};

const SUCCESS_DESCRIPTIONS: Record<string, string> = {
  '200': 'OK',
  '201': 'Created',
  '202': 'Accepted: the work goes on in the background',
  '204': 'No content',
  '206': 'Partial content (one range)',
  '304': 'Not modified',
};

const WAITED_START_ENDED =
  'The execution ended within `wait_seconds` (completed, failed or cancelled): the final execution, as ' +
  '`GET /executions/{id}` shows it';
const WAITED_START_ACCEPTED =
  'Accepted: the execution goes on in the background (with `wait_seconds`: it had not ended when they passed)';

/** Success responses whose meaning is the operation's own, by `METHOD path status`. */
const OPERATION_RESPONSE_DESCRIPTIONS: Record<string, string> = {
  'POST /api/v1/workflows/{id}/executions 200': WAITED_START_ENDED,
  'POST /api/v1/workflows/{id}/executions 202': WAITED_START_ACCEPTED,
  'POST /api/v1/executions 200': WAITED_START_ENDED,
  'POST /api/v1/executions 202': WAITED_START_ACCEPTED,
};

/** A shared error response, as problem+json. */
const problem = (status: string): JsonObject => ({
  description: ERROR_DESCRIPTIONS[status] ?? 'Error',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

/** Returns the document (after `shareNamedSchemas`) completed as this module's comment says. */
export function completeDocument<T extends JsonObject>(document: T): T {
  const paths = isObject(document.paths) ? document.paths : {};
  const completedPaths: JsonObject = {};
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    const completedItem: JsonObject = {};
    for (const [method, operation] of Object.entries(item)) {
      completedItem[method] = isObject(operation)
        ? completeOperation(`${method.toUpperCase()} ${path}`, operation)
        : operation;
    }
    completedPaths[path] = completedItem;
  }
  const components = isObject(document.components) ? document.components : {};
  const responses: JsonObject = {};
  for (const [name, response] of Object.entries(isObject(components.responses) ? components.responses : {})) {
    const status = /^Error(\d{3})$/.exec(name)?.[1];
    responses[name] = status ? problem(status) : response;
  }
  for (const status of ['413', '415', '503']) responses[`Error${status}`] ??= problem(status);
  return {
    ...document,
    servers: [{ url: '/', description: 'This server (paths are absolute: /api/v1/…)' }],
    tags: TAGS,
    paths: completedPaths,
    components: { ...components, responses },
  };
}

function completeOperation(key: string, operation: JsonObject): JsonObject {
  const completed: JsonObject = { ...operation };
  const operationId = OPERATION_IDS[key];
  if (operationId) completed.operationId = operationId;
  if (OPEN_OPERATIONS.has(key)) completed.security = [];
  if (isObject(completed.requestBody) && OPTIONAL_BODIES.has(key)) {
    completed.requestBody = { ...completed.requestBody, required: false };
  }
  const responses: JsonObject = {};
  for (const [status, response] of Object.entries(isObject(operation.responses) ? operation.responses : {})) {
    const own = OPERATION_RESPONSE_DESCRIPTIONS[`${key} ${status}`];
    responses[status] =
      own && isObject(response)
        ? { ...response, description: own }
        : describeResponse(status, response, String(operation.summary ?? ''));
  }
  const shared = (status: string) => {
    responses[status] ??= { $ref: `#/components/responses/Error${status}` };
  };
  if (completed.requestBody !== undefined) {
    shared('413');
    shared('415');
  }
  if (key.includes(' /api/v1/') || key === 'GET /readyz') shared('503');
  completed.responses = responses;
  return completed;
}

/** A response with a description of its own instead of Fastify's "Default Response". */
function describeResponse(status: string, response: unknown, summary: string): unknown {
  if (!isObject(response) || '$ref' in response) return response;
  if (/^[45]/.test(status) && JSON.stringify(response.content ?? {}).includes('/Problem"')) return problem(status);
  if (response.description !== undefined && response.description !== 'Default Response') return response;
  const description = SUCCESS_DESCRIPTIONS[status] ?? ERROR_DESCRIPTIONS[status] ?? summary;
  return { ...response, description: status.startsWith('2') && summary ? `${description}: ${summary}` : description };
}
