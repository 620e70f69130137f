import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { withChildWorkflowReferences } from '../children/child-references.js';
import { type WorkflowDefinition, WorkflowDefinitionSchema } from '../definition/definition-schema.js';
import { type DefinitionValidation, validateDefinition } from '../definition/validate-definition.js';
import { applyAction } from '../engine/lifecycle.js';
import { notFound, WeftError } from '../errors.js';
import { hasSchedule, syncTriggers } from '../events/triggers.js';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import type { Store } from '../store/store.js';
import { workspaceTaskTypes } from '../tasks/declared-types.js';
import type { Workflow } from '../types.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { compileDefinitionRouteSchema } from './request-validation.js';
import {
  errorResponses,
  FieldErrorSchema,
  IdParams,
  JsonObject,
  LabelsSchema,
  PageOf,
  PageQuery,
  VersionNumber,
  WebhookUrlSchema,
  WorkflowListItemSchema,
  WorkflowSchema,
  WrittenWorkflowSchema,
} from './schemas.js';

const ListQuery = Type.Object({
  ...PageQuery,
  enabled: Type.Optional(Type.Boolean()),
  label: Type.Optional(
    Type.Array(Type.String({ pattern: '^[^:]+:.*$', maxLength: 1101 }), {
      maxItems: 64,
      description: '`key:value`; repeat to AND several labels.',
    }),
  ),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Case-insensitive part of the name.' })),
  include_deleted: Type.Optional(Type.Boolean({ default: false })),
});

const GetQuery = Type.Object({
  version: Type.Optional(VersionNumber),
  include_deleted: Type.Optional(Type.Boolean({ default: false })),
});

const PatchBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    description: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Null()])),
    enabled: Type.Optional(Type.Boolean()),
    labels: Type.Optional(LabelsSchema),
    webhook_url: Type.Optional(Type.Union([WebhookUrlSchema, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);

const DeleteQuery = Type.Object({
  cancel_running: Type.Optional(
    Type.Boolean({ default: false, description: 'Cancel running executions instead of answering 409.' }),
  ),
});

export const PlanSchema = Type.Object({
  layers: Type.Array(Type.Array(Type.String())),
  steps: Type.Array(
    Type.Object({
      id: Type.String(),
      type: Type.String(),
      dependencies: Type.Array(Type.String()),
      dependents: Type.Array(Type.String()),
      layer: Type.Integer(),
    }),
  ),
});

const ValidationResponse = Type.Object(
  {
    valid: Type.Boolean(),
    errors: Type.Array(FieldErrorSchema),
    warnings: Type.Array(FieldErrorSchema),
    plan: Type.Optional(PlanSchema),
  },
  { title: 'Definition validation' },
);

const VersionSchema = Type.Object({
  workflow_id: Type.String(),
  version: Type.Integer(),
  definition: JsonObject,
  created_at: Type.String({ format: 'date-time' }),
});

/** Validates a definition for a workspace; throws the 400 with every `{path, message}`. */
function requireValidDefinition(validation: DefinitionValidation): WorkflowDefinition {
  if (validation.valid && validation.definition) return validation.definition;
  const count = validation.errors.length;
  throw new WeftError('DEFINITION_INVALID', `the definition has ${count} error${count === 1 ? '' : 's'}`, {
    errors: validation.errors,
  });
}

/** Parses `label=key:value` filters. */
function parseLabels(labels: string[] | undefined): Array<[string, string]> {
  return (labels ?? []).map((label) => {
    const separator = label.indexOf(':');
    return [label.slice(0, separator), label.slice(separator + 1)];
  });
}

/** The workflow routes of SPEC §5. */
export const workflowRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store, taskTypes, engine }) => {
  const validateFor = async (workspaceId: string, body: unknown) =>
    withChildWorkflowReferences(
      validateDefinition(body, await workspaceTaskTypes(store, taskTypes, workspaceId)),
      async (id) => (await store.workflows.get(workspaceId, id)) !== undefined,
    );
  /** Writes a workflow change and its trigger index in one transaction. */
  const changed = (write: (tx: Store) => Promise<Workflow | undefined>, isNew = false) =>
    store.transaction(async (tx) => {
      const workflow = await write(tx);
      if (workflow) await syncTriggers(tx, workflow, isNew);
      return workflow;
    });
  /** Workflows as the API shows them: with the next time a schedule fires them. */
  const shown = async (workflows: Workflow[]) => {
    // Only workflows with a cron trigger have a next fire time: the others cost no query.
    const next = await store.triggers.nextFires(workflows.filter(hasSchedule).map((workflow) => workflow.id));
    return workflows.map((workflow) => {
      const at = next.get(workflow.id);
      return { ...workflow, next_fire_at: at === undefined ? null : new Date(at).toISOString() };
    });
  };
  const showOne = async (workflow: Workflow) => (await shown([workflow]))[0] ?? workflow;

  app.post(
    '/workflows',
    {
      validatorCompiler: compileDefinitionRouteSchema,
      schema: {
        tags: ['workflows'],
        summary: 'Create a workflow (version 1)',
        body: WorkflowDefinitionSchema,
        response: { 201: WrittenWorkflowSchema, ...errorResponses(400, 401, 403, 413) },
      },
    },
    async (request, reply) => {
      const validation = await validateFor(authOf(request).workspace.id, request.body);
      const definition = requireValidDefinition(validation);
      const workflow = await changed((tx) => tx.workflows.create(authOf(request).workspace.id, definition), true);
      if (!workflow) throw new Error('creating a workflow returned nothing');
      return reply
        .status(201)
        .header('location', `${request.url}/${workflow.id}`)
        .send({ ...(await showOne(workflow)), warnings: validation.warnings });
    },
  );

  app.post(
    '/workflows/validate',
    {
      validatorCompiler: compileDefinitionRouteSchema,
      schema: {
        tags: ['workflows'],
        summary: 'Validate a definition without saving it (always 200; see `valid`)',
        body: WorkflowDefinitionSchema,
        response: { 200: ValidationResponse, ...errorResponses(400, 401, 403, 413) },
      },
    },
    async (request) => {
      const result = await validateFor(authOf(request).workspace.id, request.body);
      return { valid: result.valid, errors: result.errors, warnings: result.warnings, plan: result.plan };
    },
  );

  app.get(
    '/workflows',
    {
      schema: {
        tags: ['workflows'],
        summary: 'List workflows, newest first',
        querystring: ListQuery,
        response: { 200: PageOf(WorkflowListItemSchema, 'Workflow page'), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { query } = request;
      const workspaceId = authOf(request).workspace.id;
      const page = await store.workflows.list(
        workspaceId,
        { enabled: query.enabled, labels: parseLabels(query.label), q: query.q, includeDeleted: query.include_deleted },
        { limit: query.limit ?? DEFAULT_PAGE_SIZE, cursor: query.cursor },
      );
      // The page's newest executions in one statement, not one query per workflow.
      const [items, latest] = await Promise.all([
        shown(page.items),
        store.executions.latestOfWorkflows(
          workspaceId,
          page.items.map((workflow) => workflow.id),
        ),
      ]);
      return {
        ...page,
        items: items.map((workflow) => {
          const last = latest.get(workflow.id);
          return {
            ...workflow,
            last_execution: last
              ? { id: last.id, status: last.status, created_at: last.created_at, completed_at: last.completed_at }
              : null,
          };
        }),
      };
    },
  );

  app.get(
    '/workflows/:id',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Get a workflow at its latest version, or at `?version=N`',
        params: IdParams,
        querystring: GetQuery,
        response: { 200: WorkflowSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const workflow = await store.workflows.get(authOf(request).workspace.id, id, {
        version: request.query.version,
        includeDeleted: request.query.include_deleted,
      });
      if (!workflow) {
        throw request.query.version === undefined
          ? notFound('workflow', id)
          : new WeftError('NOT_FOUND', `workflow '${id}' has no version ${request.query.version}`);
      }
      return showOne(workflow);
    },
  );

  app.get(
    '/workflows/:id/versions',
    {
      schema: {
        tags: ['workflows'],
        summary: 'List the versions of a workflow, newest first',
        params: IdParams,
        querystring: Type.Object(PageQuery),
        response: { 200: PageOf(VersionSchema, 'Workflow version page'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const page = await store.workflows.listVersions(authOf(request).workspace.id, request.params.id, {
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
        cursor: request.query.cursor,
      });
      if (!page) throw notFound('workflow', request.params.id);
      return page;
    },
  );

  app.put(
    '/workflows/:id',
    {
      validatorCompiler: compileDefinitionRouteSchema,
      schema: {
        tags: ['workflows'],
        summary: 'Replace the definition: creates the next version (unless identical to the latest)',
        params: IdParams,
        body: WorkflowDefinitionSchema,
        response: { 200: WrittenWorkflowSchema, ...errorResponses(400, 401, 403, 404, 409, 413) },
      },
    },
    async (request) => {
      const { workspace } = authOf(request);
      const { id } = request.params;
      if (!(await store.workflows.get(workspace.id, id))) throw notFound('workflow', id);
      const validation = await validateFor(authOf(request).workspace.id, request.body);
      const definition = requireValidDefinition(validation);
      const workflow = await changed((tx) => tx.workflows.update(workspace.id, id, definition));
      if (!workflow) throw notFound('workflow', id);
      return { ...(await showOne(workflow)), warnings: validation.warnings };
    },
  );

  app.patch(
    '/workflows/:id',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Change name, description, enabled, labels or webhook_url (no new version)',
        params: IdParams,
        body: PatchBody,
        response: { 200: WorkflowSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { workspace } = authOf(request);
      const workflow = await changed((tx) => tx.workflows.patch(workspace.id, request.params.id, request.body));
      if (!workflow) throw notFound('workflow', request.params.id);
      return showOne(workflow);
    },
  );

  app.delete(
    '/workflows/:id',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Soft-delete a workflow',
        description:
          'Deleted workflows disappear from lists (unless `include_deleted=true`) and cannot be started or changed. ' +
          'While executions run this answers 409 unless `cancel_running=true`.',
        params: IdParams,
        querystring: DeleteQuery,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { workspace } = authOf(request);
      const { id } = request.params;
      if (!(await store.workflows.get(workspace.id, id))) throw notFound('workflow', id);
      const active = await store.executions.activeIds(workspace.id, id);
      if (active.length > 0 && !request.query.cancel_running) {
        throw new WeftError(
          'CONFLICT',
          `workflow '${id}' has ${active.length} unfinished execution(s); cancel them or pass cancel_running=true`,
        );
      }
      for (const executionId of active) {
        const { abort } = await applyAction(store, workspace.id, executionId, 'cancel', {
          workflowOf: (row, tx) => engine.workflowOf(row, tx),
        }).catch((error: unknown) => {
          // An execution that finished meanwhile needs no cancelling.
          if (error instanceof WeftError && error.code === 'CONFLICT') return { abort: [] };
          throw error;
        });
        if (abort.length > 0) engine.abortExecution(executionId, abort);
      }
      const deleted = await changed(async (tx) =>
        (await tx.workflows.softDelete(workspace.id, id))
          ? tx.workflows.get(workspace.id, id, { includeDeleted: true })
          : undefined,
      );
      if (!deleted) throw notFound('workflow', id);
      return reply.status(204).send(null);
    },
  );
};
