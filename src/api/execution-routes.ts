import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { type Static, Type } from 'typebox';
import type { ArtifactCleanup } from '../artifacts/artifacts.js';
import { withChildWorkflowReferences } from '../children/child-references.js';
import { WorkflowDefinitionSchema } from '../definition/definition-schema.js';
import { describeAjvErrors } from '../definition/json-schema.js';
import { validateDefinition } from '../definition/validate-definition.js';
import { applyAction, type StartExecution, startIdempotent } from '../engine/lifecycle.js';
import { EXECUTION_ACTIONS, EXECUTION_STATUSES, type ExecutionAction, isTerminal } from '../engine/states.js';
import { notFound, validationFailed, WeftError } from '../errors.js';
import { LOGGED_EVENT_TYPES } from '../events/webhook-events.js';
import { nowIso } from '../ids.js';
import { itemTimelineEntries } from '../items/item-timeline.js';
import type { ExecutionRow, ExecutionStepRow } from '../store/database-schema.js';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import { workspaceTaskTypes } from '../tasks/declared-types.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import {
  ExecutionSchema,
  executionView,
  ProgressSchema,
  progressOf,
  queuePositions,
  TimelineSchema,
  timelineView,
  workflowNames,
} from './execution-views.js';
import { compileBodySchema, compileDefinitionRouteSchema } from './request-validation.js';
import { errorResponses, IdParams, OneOf, PageOf, PageQuery, VersionNumber } from './schemas.js';
import { answerStartRequest, type StartedExecution, StartQuery } from './start-and-wait.js';
import { StartFields, startFromHead, startOf } from './start-requests.js';

const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});
const StartBody = Type.Object(
  { ...StartFields, version: Type.Optional(VersionNumber) },
  { additionalProperties: false },
);
const AdhocBody = Type.Object(
  { ...StartFields, definition: WorkflowDefinitionSchema },
  { additionalProperties: false },
);
/**
 * The ad-hoc body with its definition left to validateDefinition (which knows the workspace's
 * task types): the start fields are checked by the very schemas of the start route.
 */
const validateAdhocEnvelope = compileBodySchema(
  Type.Object({ ...StartFields, definition: Type.Unknown() }, { additionalProperties: false }),
);

const EventSchema = Type.Object({
  id: Type.String(),
  execution_id: Type.String(),
  type: OneOf(LOGGED_EVENT_TYPES),
  step_id: Type.Union([Type.String(), Type.Null()]),
  data: Type.Record(Type.String(), Type.Unknown()),
  created_at: Type.String({ format: 'date-time' }),
});

const StatusSchema = Type.Object({ id: Type.String(), status: OneOf(EXECUTION_STATUSES), progress: ProgressSchema });
const tags = ['executions'];

/** The execution routes of SPEC §5. */
export const executionRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (
  app,
  { store, taskTypes, engine, executionEnds },
) => {
  /**
   * Starts an execution; under an idempotency key a repeat returns the first one (`replayed`).
   * `steps` are its step rows as inserted, when they can be shown as they are (no concurrency
   * block, which may queue it, and no replay); else the view reads them.
   */
  const start = async (request: StartExecution, key: string | undefined) => {
    if (key === undefined) {
      const rows = await engine.startExecutionRows(request);
      return { execution: rows.execution, replayed: false, steps: rows.concurrency ? undefined : rows.steps };
    }
    const started = await startIdempotent(store, { ...request, idempotencyKey: key });
    if (!started.replayed) engine.wake();
    return { ...started, steps: undefined };
  };

  /** An execution with its steps and, while queued, its place in line. */
  const fullView = async (execution: ExecutionRow, workflowName?: string | null, stepRows?: ExecutionStepRow[]) => {
    const [steps, positions, name] = await Promise.all([
      stepRows ?? store.steps.list(execution.id),
      queuePositions(store, [execution]),
      workflowName === undefined ? nameOf(execution) : workflowName,
    ]);
    return executionView(execution, steps, { queuePosition: positions.get(execution.id) ?? null, workflowName: name });
  };

  /** The name of an execution's workflow; null for an ad-hoc run. */
  const nameOf = async (execution: ExecutionRow) => {
    const names = await workflowNames(store, execution.workspace_id, [execution]);
    return execution.workflow_id === null ? null : (names.get(execution.workflow_id) ?? null);
  };

  /** An execution as `GET /executions/{id}` shows it (with the item counts of `for_each` steps). */
  const detailedView = async (execution: ExecutionRow) => {
    const [steps, items, positions, workflowName] = await Promise.all([
      store.steps.list(execution.id),
      store.items.countsOfExecution(execution.id),
      queuePositions(store, [execution]),
      nameOf(execution),
    ]);
    return executionView(execution, steps, {
      items,
      queuePosition: positions.get(execution.id) ?? null,
      workflowName,
    });
  };

  /** Answers a start (start-and-wait.ts): 202 as started, or 200 once it ended within `wait_seconds`. */
  const answerStart = (
    reply: FastifyReply,
    waitSeconds: number | undefined,
    started: StartedExecution,
    workflowName: string | null,
  ) =>
    answerStartRequest(reply, { ends: executionEnds, store, seconds: waitSeconds }, started, {
      unended: (execution, steps) => fullView(execution, workflowName, steps),
      ended: detailedView,
    });

  const load = async (workspaceId: string, id: string) => {
    const execution = await store.executions.get(workspaceId, id);
    if (!execution) throw notFound('execution', id);
    return execution;
  };

  app.post(
    '/workflows/:id/executions',
    {
      schema: {
        tags,
        summary: 'Start an execution of a workflow (202; 200 when it ended within `wait_seconds`)',
        params: IdParams,
        querystring: StartQuery,
        body: StartBody,
        headers: IdempotencyHeaders,
        response: { 200: ExecutionSchema, 202: ExecutionSchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { workspace } = authOf(request);
      const target = { store, engine, workspaceId: workspace.id, workflowId: request.params.id };
      const key = request.headers['idempotency-key'] ?? request.body.idempotency_key;
      const { workflow, value } = await startFromHead({ ...target, version: request.body.version }, (workflow) =>
        start(startOf(workspace.id, workflow, request.body), key),
      );
      if (value.replayed) reply.header('idempotent-replayed', 'true');
      return answerStart(reply, request.query.wait_seconds, value, workflow.name);
    },
  );

  app.post(
    '/executions',
    {
      validatorCompiler: compileDefinitionRouteSchema,
      schema: {
        tags,
        summary: 'Run an inline definition once (ad hoc; 202, or 200 when it ended within `wait_seconds`)',
        querystring: StartQuery,
        body: AdhocBody,
        headers: IdempotencyHeaders,
        response: { 200: ExecutionSchema, 202: ExecutionSchema, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const { workspace } = authOf(request);
      const body = request.body as unknown;
      const envelopeErrors = validateAdhocEnvelope(body) ? [] : describeAjvErrors(validateAdhocEnvelope.errors);
      const envelope =
        body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
      // A missing definition is a field error like the others; a present one is validated whole.
      const validation =
        envelope.definition === undefined
          ? undefined
          : await withChildWorkflowReferences(
              validateDefinition(envelope.definition, await workspaceTaskTypes(store, taskTypes, workspace.id)),
              async (id) => (await store.workflows.get(workspace.id, id)) !== undefined,
            );
      const definitionErrors = (validation?.errors ?? []).map((error) => ({
        ...error,
        path: `/definition${error.path}`,
      }));
      if (definitionErrors.length > 0 || (validation && !validation.definition)) {
        const errors = [...envelopeErrors, ...definitionErrors];
        throw new WeftError('DEFINITION_INVALID', `the request has ${errors.length} error(s)`, { errors });
      }
      if (envelopeErrors.length > 0 || !validation?.definition) throw validationFailed(envelopeErrors);
      const fields = envelope as Static<typeof AdhocBody>;
      const started = await start(
        {
          workspaceId: workspace.id,
          workflow: undefined,
          adhocDefinition: validation.definition,
          input: fields.input ?? {},
          start: fields.start ?? true,
          labels: fields.labels ?? {},
          reference: fields.reference ?? null,
          webhookUrl: fields.webhook_url ?? null,
          trigger: null,
        },
        request.headers['idempotency-key'] ?? fields.idempotency_key,
      );
      if (started.replayed) reply.header('idempotent-replayed', 'true');
      return answerStart(reply, request.query.wait_seconds, started, null);
    },
  );

  app.get(
    '/executions/:id',
    {
      schema: {
        tags,
        summary: 'An execution with its steps',
        params: IdParams,
        response: { 200: ExecutionSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => detailedView(await load(authOf(request).workspace.id, request.params.id)),
  );

  app.get(
    '/executions/:id/status',
    {
      schema: {
        tags,
        summary: 'Status and progress',
        params: IdParams,
        response: { 200: StatusSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const execution = await load(authOf(request).workspace.id, request.params.id);
      return {
        id: execution.id,
        status: execution.status,
        progress: progressOf(execution, await store.steps.list(execution.id)),
      };
    },
  );

  app.get(
    '/executions/:id/timeline',
    {
      schema: {
        tags,
        summary: 'Per step and attempt: queued, started and ended times, durations, worker',
        params: IdParams,
        response: { 200: TimelineSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const execution = await load(authOf(request).workspace.id, request.params.id);
      const [steps, attempts, itemEntries] = await Promise.all([
        store.steps.list(execution.id),
        store.executionLog.attempts(execution.id),
        itemTimelineEntries(store, execution.id),
      ]);
      return timelineView(execution, steps, attempts, itemEntries);
    },
  );

  app.get(
    '/executions/:id/events',
    {
      schema: {
        tags,
        summary: "The execution's event log (newest first; `order=asc` for oldest first)",
        params: IdParams,
        querystring: Type.Object({
          ...PageQuery,
          order: Type.Optional(Type.String({ enum: ['asc', 'desc'], default: 'desc' })),
        }),
        response: { 200: PageOf(EventSchema, 'Event page'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const execution = await load(authOf(request).workspace.id, request.params.id);
      const order = request.query.order === 'asc' ? 'asc' : 'desc';
      return store.executionLog.events(
        execution.id,
        { limit: request.query.limit ?? DEFAULT_PAGE_SIZE, cursor: request.query.cursor },
        order,
      );
    },
  );

  for (const action of Object.keys(EXECUTION_ACTIONS) as ExecutionAction[]) {
    const allowed = EXECUTION_ACTIONS[action].from.join(', ');
    app.post(
      `/executions/:id/${action}`,
      {
        // The body is optional: a bare POST acts like an empty object.
        preValidation: async (request) => {
          request.body ??= {};
        },
        schema: {
          tags,
          summary: `${action[0]?.toUpperCase()}${action.slice(1)} an execution (from: ${allowed})`,
          params: IdParams,
          body: Type.Optional(
            action === 'retry'
              ? Type.Object(
                  { from_step: Type.Optional(Type.String({ minLength: 1 })) },
                  { additionalProperties: false },
                )
              : Type.Object({}, { additionalProperties: false }),
          ),
          response: { 200: ExecutionSchema, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const { workspace } = authOf(request);
        const fromStep = (request.body as { from_step?: string } | undefined)?.from_step;
        const { execution, abort } = await applyAction(store, workspace.id, request.params.id, action, {
          fromStep,
          workflowOf: (row, tx) => engine.workflowOf(row, tx),
        });
        if (abort.length > 0) engine.abortExecution(execution.id, abort);
        engine.wake();
        return fullView(execution);
      },
    );
  }

  app.post(
    '/executions/:id/cleanup',
    {
      schema: {
        tags,
        summary: 'Soft-delete a finished execution; `delete_artifacts=true` also deletes its files',
        params: IdParams,
        querystring: Type.Object({ delete_artifacts: Type.Optional(Type.Boolean({ default: false })) }),
        response: {
          200: Type.Object(
            {
              execution: ExecutionSchema,
              cleanup: Type.Object({
                artifacts_deleted: Type.Array(Type.String(), { description: 'Names of the artifacts deleted.' }),
                bytes_deleted: Type.Integer({ minimum: 0 }),
                errors: Type.Array(Type.Object({ name: Type.String(), message: Type.String() }), {
                  description: 'Artifacts whose file could not be deleted; they stay listed and a repeat tries again.',
                }),
              }),
            },
            { title: 'ExecutionCleanup' },
          ),
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const workspaceId = authOf(request).workspace.id;
      const execution = await load(workspaceId, request.params.id);
      if (!isTerminal(execution.status)) {
        throw new WeftError(
          'CONFLICT',
          `cannot clean up an execution that is '${execution.status}': cancel it or let it finish`,
        );
      }
      const cleanup: ArtifactCleanup = { artifacts_deleted: [], bytes_deleted: 0, errors: [] };
      const deleteArtifacts = async () => {
        if (!request.query.delete_artifacts || !engine.artifacts) return;
        const removed = await engine.artifacts.removeAll(execution.id);
        cleanup.artifacts_deleted.push(...removed.artifacts_deleted);
        cleanup.bytes_deleted += removed.bytes_deleted;
        cleanup.errors.push(...removed.errors);
      };
      // Files first: a crash part-way leaves the execution visible, and a repeated cleanup finishes.
      await deleteArtifacts();
      const deletedAt = nowIso();
      if (
        !(await store.executions.update(execution.id, { deleted_at: deletedAt, updated_at: deletedAt }, [
          execution.status,
        ]))
      ) {
        throw new WeftError(
          'CONFLICT',
          'the execution changed meanwhile (it was resumed or retried); read it and try again',
        );
      }
      // An upload that raced the first pass committed before the delete (uploads check it under lock).
      await deleteArtifacts();
      const deleted = (await store.executions.get(workspaceId, execution.id, true)) ?? execution;
      return { execution: await fullView(deleted), cleanup };
    },
  );
};
