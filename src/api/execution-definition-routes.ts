import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { notFound } from '../errors.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { errorResponses, IdParams, JsonObject } from './schemas.js';
import { PlanSchema } from './workflow-routes.js';

/**
 * `GET /executions/{id}/definition`: the definition an execution runs (the workflow version it
 * pinned, or its inline ad-hoc definition) with its plan, every step's explicit and implicit
 * dependencies. The UI draws an execution's graph from it; it is the engine's own compiled copy,
 * so the graph shows exactly the dependencies the scheduler uses.
 */

const ExecutionDefinitionSchema = Type.Object(
  {
    execution_id: Type.String(),
    workflow_id: Type.Union([Type.String(), Type.Null()], { description: 'null for an ad-hoc execution.' }),
    workflow_version: Type.Union([Type.Integer(), Type.Null()]),
    definition: JsonObject,
    plan: PlanSchema,
  },
  { title: 'Execution definition' },
);

/** The route of an execution's pinned definition and plan. */
export const executionDefinitionRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store, engine }) => {
  app.get(
    '/executions/:id/definition',
    {
      schema: {
        tags: ['executions'],
        summary: 'The definition an execution runs, with its plan',
        params: IdParams,
        response: { 200: ExecutionDefinitionSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const execution = await store.executions.get(authOf(request).workspace.id, request.params.id);
      if (!execution) throw notFound('execution', request.params.id);
      const compiled = await engine.workflowOf(execution);
      return {
        execution_id: execution.id,
        workflow_id: execution.workflow_id,
        workflow_version: execution.workflow_version,
        definition: compiled.definition as unknown as Record<string, unknown>,
        plan: compiled.plan,
      };
    },
  );
};
