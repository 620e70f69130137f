import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiContext } from '../api/api-context.js';
import { authOf } from '../api/auth.js';
import { errorResponses, IdParams, PageOf, PageQuery, Timestamp } from '../api/schemas.js';
import { STEP_ID_PATTERN } from '../definition/definition-schema.js';
import { notFound } from '../errors.js';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import { MAX_UNCONSUMED_SIGNALS, postSignal } from './signal-delivery.js';
import { signalView } from './signal-repository.js';

/**
 * `POST /executions/{id}/signals/{name}` and `GET /executions/{id}/signals` (SPEC §3.1, §5):
 * signals delivered to `wait_for_signal` steps, stored durably and consumed once each.
 */

const SignalParams = Type.Object({
  id: IdParams.properties.id,
  name: Type.String({
    pattern: STEP_ID_PATTERN,
    description: "The signal name: a letter, then up to 63 letters, digits, '_' or '-' (like a step id).",
  }),
});

const SignalBody = Type.Object(
  { data: Type.Optional(Type.Unknown({ description: "Any JSON: the waiting step's output (null when absent)." })) },
  { additionalProperties: false },
);

const SignalHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      description: 'A repeat on the same execution answers the first signal and stores nothing.',
    }),
  ),
});

const SignalSentSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    consumed_by_step: Type.Union([Type.String(), Type.Null()], {
      description: 'The step that consumed it at once, or null: kept for the first step that waits for it.',
    }),
    consumed_by_index: Type.Union([Type.Integer(), Type.Null()], {
      description: 'When that step runs `for_each`: the item that consumed it.',
    }),
  },
  { title: 'SignalSent' },
);

const SignalSchema = Type.Object(
  {
    id: Type.String(),
    execution_id: Type.String(),
    name: Type.String(),
    data: Type.Unknown(),
    created_at: Timestamp,
    consumed_by_step: Type.Union([Type.String(), Type.Null()]),
    consumed_by_index: Type.Union([Type.Integer(), Type.Null()], {
      description: 'The item of `consumed_by_step` that consumed it, when that step runs `for_each`.',
    }),
    consumed_at: Type.Union([Timestamp, Type.Null()]),
  },
  { title: 'Signal' },
);

const tags = ['executions'];

/** The signal routes, within the acting workspace. */
export const signalRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store, engine }) => {
  app.post(
    '/executions/:id/signals/:name',
    {
      schema: {
        tags,
        summary: 'Send a signal to an execution (202); a `wait_for_signal` step of that name consumes it',
        description:
          'The oldest step waiting for the name completes with `data` as its output; with none waiting the ' +
          `signal is kept for the first step that waits for it. An ended execution is 409; at most ` +
          `${MAX_UNCONSUMED_SIGNALS} unconsumed signals per execution (then 429).`,
        params: SignalParams,
        headers: SignalHeaders,
        body: SignalBody,
        response: { 202: SignalSentSchema, ...errorResponses(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const { signal, replayed } = await postSignal(engine, {
        workspaceId: authOf(request).workspace.id,
        executionId: request.params.id,
        name: request.params.name,
        data: request.body.data ?? null,
        idempotencyKey: request.headers['idempotency-key'],
      });
      if (replayed) reply.header('idempotent-replayed', 'true');
      return reply.status(202).send({
        id: signal.id,
        name: signal.name,
        consumed_by_step: signal.consumed_by_step,
        consumed_by_index: signal.consumed_by_index,
      });
    },
  );

  app.get(
    '/executions/:id/signals',
    {
      schema: {
        tags,
        summary: "An execution's signals, newest first, with the step that consumed each",
        params: IdParams,
        querystring: Type.Object(PageQuery),
        response: { 200: PageOf(SignalSchema, 'Signal page'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const execution = await store.executions.get(authOf(request).workspace.id, request.params.id);
      if (!execution) throw notFound('execution', request.params.id);
      const page = await store.signals.list(execution.id, {
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
        cursor: request.query.cursor,
      });
      return { items: page.items.map(signalView), next_cursor: page.next_cursor };
    },
  );
};
