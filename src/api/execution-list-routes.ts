import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import { EXECUTION_STATUSES } from '../engine/states.js';
import { notFound, WeftError } from '../errors.js';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { ExecutionSchema, executionView, queuePositions, workflowNames } from './execution-views.js';
import { errorResponses, IdParams, PageOf, PageQuery } from './schemas.js';

/**
 * `GET /executions` and `GET /workflows/{id}/executions`: pages of executions, newest first. A
 * page costs a fixed number of queries whatever its length: the rows (one walk of an index ending
 * in `id`, migration 0016), the step tallies of their progress (two grouped queries), their
 * workflows' names (one), and the queue places of queued ones.
 */

const TimeBound = (description: string) =>
  Type.Optional(Type.String({ format: 'date-time', description: `${description} ISO 8601 date-time with an offset.` }));

const ListQuery = Type.Object({
  ...PageQuery,
  workflow_id: Type.Optional(Type.String({ minLength: 1 })),
  status: Type.Optional(Type.String({ enum: [...EXECUTION_STATUSES] })),
  label: Type.Optional(Type.Array(Type.String({ pattern: '^[^:]+:.*$', maxLength: 1101 }), { maxItems: 64 })),
  reference: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  include_deleted: Type.Optional(Type.Boolean({ default: false })),
  parent_execution_id: Type.Optional(
    Type.String({ minLength: 1, maxLength: 64, description: "Only this execution's children (its `workflow` steps)." }),
  ),
  created_after: TimeBound('Only executions created at or after this time.'),
  created_before: TimeBound('Only executions created before this time.'),
});

/**
 * The query of `GET /workflows/{id}/executions`: that of `GET /executions` without `workflow_id`
 * (the path names the workflow; a `workflow_id` given anyway is a 400 like any unknown parameter).
 */
const WorkflowListQuery = Type.Omit(ListQuery, ['workflow_id']);

const tags = ['executions'];

/**
 * A time bound of the query as stored times are written (ISO 8601 UTC with milliseconds, which
 * compare as text). The schema checked its form and calendar (no February 30); a leap second
 * (`23:59:60`), which the format allows and JavaScript dates do not, is a 400 at its path too.
 */
function timeBound(name: 'created_after' | 'created_before', value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) {
    throw new WeftError('VALIDATION_FAILED', `${name} is not a date-time this API can compare`, {
      errors: [{ path: `query/${name}`, message: 'must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z' }],
    });
  }
  return new Date(at).toISOString();
}

/** The list routes of executions. */
export const executionListRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store }) => {
  /** One page of executions as both list routes show it. */
  const listPage = async (workspaceId: string, query: Static<typeof ListQuery>) => {
    const page = await store.executions.list(
      workspaceId,
      {
        workflowId: query.workflow_id,
        status: query.status,
        reference: query.reference,
        includeDeleted: query.include_deleted,
        parentExecutionId: query.parent_execution_id,
        createdAfter: timeBound('created_after', query.created_after),
        createdBefore: timeBound('created_before', query.created_before),
        labels: (query.label ?? []).map((label) => [
          label.slice(0, label.indexOf(':')),
          label.slice(label.indexOf(':') + 1),
        ]),
      },
      { limit: query.limit ?? DEFAULT_PAGE_SIZE, cursor: query.cursor },
    );
    const [tallies, positions, names] = await Promise.all([
      store.steps.tallies(page.items.map((row) => row.id)),
      queuePositions(store, page.items),
      workflowNames(store, workspaceId, page.items),
    ]);
    const empty = { counts: {}, running: [] };
    return {
      items: page.items.map((row) =>
        executionView(row, tallies.get(row.id) ?? empty, {
          queuePosition: positions.get(row.id) ?? null,
          workflowName: row.workflow_id === null ? null : (names.get(row.workflow_id) ?? null),
        }),
      ),
      next_cursor: page.next_cursor,
    };
  };

  app.get(
    '/executions',
    {
      schema: {
        tags,
        summary: 'List executions, newest first (without steps)',
        querystring: ListQuery,
        response: { 200: PageOf(ExecutionSchema, 'Execution page'), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listPage(authOf(request).workspace.id, request.query),
  );

  app.get(
    '/workflows/:id/executions',
    {
      schema: {
        tags,
        summary: "List a workflow's executions, newest first (the filters and pages of GET /executions)",
        params: IdParams,
        querystring: WorkflowListQuery,
        response: { 200: PageOf(ExecutionSchema, 'Execution page'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { workspace } = authOf(request);
      const { id } = request.params;
      // A deleted workflow's executions are listed with include_deleted, as GET /workflows/{id} shows it.
      const workflow = await store.workflows.get(workspace.id, id, { includeDeleted: request.query.include_deleted });
      if (!workflow) throw notFound('workflow', id);
      return listPage(workspace.id, { ...request.query, workflow_id: workflow.id });
    },
  );
};
