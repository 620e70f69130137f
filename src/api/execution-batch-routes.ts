import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { MAX_BATCH_STARTS, startMany } from '../engine/start-many.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { ExecutionSchema, executionView, queuePositions } from './execution-views.js';
import { errorResponses, IdParams, VersionNumber } from './schemas.js';
import { StartFields, startFromHead, startOf } from './start-requests.js';

/**
 * `POST /workflows/{id}/executions/batch` (issue 13): up to 1,000 starts of one workflow in one
 * request and one commit, for backfills. docs/api.md, "Starting many executions".
 */

const BatchStartBody = Type.Object(
  {
    version: Type.Optional(VersionNumber),
    executions: Type.Array(Type.Object(StartFields, { additionalProperties: false }), {
      minItems: 1,
      maxItems: MAX_BATCH_STARTS,
      description: `The starts, 1 to ${MAX_BATCH_STARTS}; each as the body of a single start.`,
    }),
  },
  { additionalProperties: false },
);

const BatchStartAnswer = Type.Object(
  {
    items: Type.Array(ExecutionSchema, {
      description: 'The executions in the order of the starts; a replayed idempotency key gives the first execution.',
    }),
  },
  { title: 'Started executions' },
);

/** The batch start route (under `/api/v1`, authenticated). */
export const executionBatchRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store, engine }) => {
  app.post(
    '/workflows/:id/executions/batch',
    {
      schema: {
        tags: ['executions'],
        summary: 'Start up to 1,000 executions of a workflow, all or none (202)',
        params: IdParams,
        body: BatchStartBody,
        response: { 202: BatchStartAnswer, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { workspace } = authOf(request);
      const target = { store, engine, workspaceId: workspace.id, workflowId: request.params.id };
      const { workflow, value: started } = await startFromHead(
        { ...target, version: request.body.version },
        (workflow) =>
          startMany(
            store,
            request.body.executions.map((fields) => ({
              ...startOf(workspace.id, workflow, fields),
              idempotencyKey: fields.idempotency_key,
            })),
          ),
      );
      if (started.some((entry) => !entry.replayed)) engine.wake();
      const positions = await queuePositions(
        store,
        started.map((entry) => entry.execution),
      );
      const items = await Promise.all(
        started.map(async ({ execution, steps }) =>
          executionView(execution, steps ?? (await store.steps.list(execution.id)), {
            workflowName: workflow.name,
            queuePosition: positions.get(execution.id) ?? null,
          }),
        ),
      );
      return reply.status(202).send({ items });
    },
  );
};
