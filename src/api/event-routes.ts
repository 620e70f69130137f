import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { notFound } from '../errors.js';
import { postEvent } from '../events/triggers.js';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { errorResponses, IdParams, PageOf, PageQuery, Timestamp } from './schemas.js';

/** `POST /events` (event triggers, SPEC §5) and the log of posted events. */

const EventTypeString = Type.String({ minLength: 1, maxLength: 200, pattern: '^\\S+$' });

const PostBody = Type.Object(
  {
    type: EventTypeString,
    data: Type.Optional(Type.Unknown({ description: 'Becomes the input of every execution it starts.' })),
    idempotency_key: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'Same as the Idempotency-Key header.' }),
    ),
  },
  { additionalProperties: false },
);

const PostedEventSchema = Type.Object(
  {
    id: Type.String(),
    type: Type.String(),
    data: Type.Unknown(),
    idempotency_key: Type.Union([Type.String(), Type.Null()]),
    executions: Type.Array(Type.String(), { description: 'Ids of the executions it started.' }),
    created_at: Timestamp,
  },
  { title: 'Event' },
);

const OutcomeSchema = Type.Object(
  {
    event_id: Type.String(),
    executions: Type.Array(Type.String()),
    skipped: Type.Array(Type.Object({ workflow_id: Type.String(), reason: Type.String() }), {
      description: 'Workflows whose trigger matched but that did not start (e.g. the input_schema rejected the data).',
    }),
    repeated: Type.Boolean({ description: 'True when an earlier post with this idempotency key answered.' }),
  },
  { title: 'Event outcome' },
);

const tags = ['events'];

export const eventRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store, engine }) => {
  app.post(
    '/events',
    {
      schema: {
        tags,
        summary: 'Post an event: starts every enabled workflow whose trigger matches (202)',
        description:
          'An `Idempotency-Key` header (or `idempotency_key`) makes a repeated post within 24 hours return the ' +
          'first answer and start nothing new.',
        body: PostBody,
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }),
        response: { 202: OutcomeSchema, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const outcome = await postEvent(
        store,
        engine,
        authOf(request).workspace.id,
        {
          type: request.body.type,
          data: request.body.data ?? {},
          idempotencyKey: request.headers['idempotency-key'] ?? request.body.idempotency_key,
        },
        (failure) => request.log.warn(failure, 'a trigger condition failed; it counts as not matching'),
      );
      return reply.status(202).send(outcome);
    },
  );

  app.get(
    '/events',
    {
      schema: {
        tags,
        summary: 'List posted events, newest first',
        querystring: Type.Object({ ...PageQuery, type: Type.Optional(EventTypeString) }),
        response: { 200: PageOf(PostedEventSchema, 'Event page'), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) =>
      store.events.list(
        authOf(request).workspace.id,
        { type: request.query.type },
        { limit: request.query.limit ?? DEFAULT_PAGE_SIZE, cursor: request.query.cursor },
      ),
  );

  app.get(
    '/events/:id',
    {
      schema: {
        tags,
        summary: 'One posted event, with the executions it started',
        params: IdParams,
        response: { 200: PostedEventSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const event = await store.events.get(authOf(request).workspace.id, request.params.id);
      if (!event) throw notFound('event', request.params.id);
      return event;
    },
  );
};
