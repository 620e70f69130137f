import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { StringEnum } from '../definition/definition-schema.js';
import { notFound } from '../errors.js';
import { EXECUTION_EVENT_TYPES, SUBSCRIBABLE_EVENT_TYPES } from '../events/webhook-events.js';
import { generateWebhookSecret } from '../events/webhook-signing.js';
import type { WebhookSigningSecretRow } from '../store/database-schema.js';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import { DELIVERY_STATUSES } from '../store/repositories/webhook-delivery-repository.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { errorResponses, IdParams, JsonObject, OneOf, PageOf, PageQuery, Timestamp } from './schemas.js';

/**
 * Webhooks (SPEC §5): subscriptions by event type with their delivery log, the delivery log of an
 * execution, and the workspace's signing secret for workflow and execution `webhook_url`s.
 * Deliveries themselves are queued by the outbox trigger and sent by the dispatcher
 * (`src/events/webhook-dispatcher.ts`); see docs/webhooks.md.
 */

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const WebhookUrl = Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2000 });
const EventTypes = Type.Array(StringEnum(SUBSCRIBABLE_EVENT_TYPES), {
  maxItems: SUBSCRIBABLE_EVENT_TYPES.length,
  uniqueItems: true,
  description: 'Event types to receive; `[]` or `["*"]` means every type.',
});
const Description = Type.String({ maxLength: 1000 });

const CreateBody = Type.Object(
  {
    url: WebhookUrl,
    event_types: Type.Optional({ ...EventTypes, default: ['*'] }),
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
);

const PatchBody = Type.Object(
  {
    url: Type.Optional(WebhookUrl),
    event_types: Type.Optional(EventTypes),
    description: Type.Optional(Nullable(Description)),
    enabled: Type.Optional(Type.Boolean({ description: 'false stops new deliveries and cancels the pending ones.' })),
  },
  { additionalProperties: false },
);

const WebhookSchema = Type.Object(
  {
    id: Type.String(),
    workspace_id: Type.String(),
    url: Type.String(),
    description: Nullable(Type.String()),
    event_types: Type.Array(Type.String()),
    enabled: Type.Boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'Webhook' },
);

const CreatedWebhook = Type.Object(
  {
    ...WebhookSchema.properties,
    secret: Type.String({ description: 'Signing secret (`whsec_…`, Standard Webhooks). Shown only in this response.' }),
  },
  { title: 'Created webhook' },
);

const AttemptSchema = Type.Object(
  {
    attempt: Type.Integer(),
    url: Type.String(),
    status_code: Nullable(Type.Integer({ description: 'null when nothing was answered (timeout, refused).' })),
    latency_ms: Nullable(Type.Integer()),
    error: Nullable(Type.String()),
    started_at: Timestamp,
  },
  { title: 'Webhook attempt' },
);

const DeliverySchema = Type.Object(
  {
    id: Type.String({ description: 'Also the `webhook-id` header: the same on every attempt.' }),
    webhook_id: Nullable(Type.String({ description: "null for the execution's webhook_url." })),
    execution_id: Type.String(),
    event_id: Type.String(),
    event_type: OneOf(EXECUTION_EVENT_TYPES),
    url: Nullable(Type.String()),
    status: StringEnum(DELIVERY_STATUSES),
    next_attempt_at: Nullable(Timestamp),
    created_at: Timestamp,
    completed_at: Nullable(Timestamp),
    payload: Nullable(JsonObject),
    attempts: Type.Array(AttemptSchema),
  },
  { title: 'Webhook delivery' },
);

const DeliveryQuery = Type.Object({
  ...PageQuery,
  status: Type.Optional(StringEnum(DELIVERY_STATUSES)),
});

const SigningSecretSchema = Type.Object(
  {
    secret: Type.String({ description: 'Signs deliveries to workflow and execution webhook_urls (`whsec_…`).' }),
    previous_secret_expires_at: Nullable(
      Type.String({ format: 'date-time', description: 'Until then deliveries carry a second signature (old secret).' }),
    ),
    created_at: Timestamp,
    rotated_at: Nullable(Timestamp),
  },
  { title: 'Webhook signing secret' },
);

/** How long a rotated-out signing secret keeps signing beside the new one. */
const ROTATION_OVERLAP_MS = 24 * 3600 * 1000;

function signingSecretView(row: WebhookSigningSecretRow) {
  const valid = row.previous_expires_at !== null && row.previous_expires_at > new Date().toISOString();
  return {
    secret: row.secret,
    previous_secret_expires_at: valid ? row.previous_expires_at : null,
    created_at: row.created_at,
    rotated_at: row.rotated_at,
  };
}

const tags = ['webhooks'];

/** `/webhooks` CRUD and delivery logs; admin and member keys, within the acting workspace. */
export const webhookRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store }) => {
  app.post(
    '/webhooks',
    {
      schema: {
        tags,
        summary: 'Subscribe a URL to event types (201; the signing secret is returned once)',
        body: CreateBody,
        response: { 201: CreatedWebhook, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { workspace } = authOf(request);
      const secret = generateWebhookSecret();
      const webhook = await store.webhooks.create({
        workspaceId: workspace.id,
        url: request.body.url,
        description: request.body.description ?? null,
        eventTypes: request.body.event_types ?? ['*'],
        enabled: request.body.enabled ?? true,
        secret,
      });
      return reply
        .status(201)
        .header('location', `${request.url}/${webhook.id}`)
        .send({ ...webhook, secret });
    },
  );

  app.get(
    '/webhooks',
    {
      schema: {
        tags,
        summary: 'List the subscriptions of the workspace (without secrets)',
        querystring: Type.Object(PageQuery),
        response: { 200: PageOf(WebhookSchema, 'Webhook page'), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) =>
      store.webhooks.list(authOf(request).workspace.id, {
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
        cursor: request.query.cursor,
      }),
  );

  app.get(
    '/webhooks/signing-secret',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: "The workspace's secret signing deliveries to workflow and execution webhook_urls",
        response: { 200: SigningSecretSchema, ...errorResponses(401, 403) },
      },
    },
    async (request) =>
      signingSecretView(await store.webhooks.signingSecret(authOf(request).workspace.id, generateWebhookSecret())),
  );

  app.post(
    '/webhooks/signing-secret/rotate',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'Replace the webhook_url signing secret (the old one keeps signing for 24 h)',
        response: { 200: SigningSecretSchema, ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const expires = new Date(Date.now() + ROTATION_OVERLAP_MS).toISOString();
      const workspaceId = authOf(request).workspace.id;
      return signingSecretView(
        await store.transaction((tx) => tx.webhooks.rotateSigningSecret(workspaceId, generateWebhookSecret(), expires)),
      );
    },
  );

  app.get(
    '/webhooks/:id',
    {
      schema: {
        tags,
        summary: 'A subscription (without its secret)',
        params: IdParams,
        response: { 200: WebhookSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const webhook = await store.webhooks.get(authOf(request).workspace.id, request.params.id);
      if (!webhook) throw notFound('webhook', request.params.id);
      return webhook;
    },
  );

  app.patch(
    '/webhooks/:id',
    {
      schema: {
        tags,
        summary: 'Change url, event_types, description or enabled',
        params: IdParams,
        body: PatchBody,
        response: { 200: WebhookSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const workspaceId = authOf(request).workspace.id;
      const webhook = await store.transaction(async (tx) => {
        const updated = await tx.webhooks.update(workspaceId, request.params.id, request.body);
        if (updated && request.body.enabled === false)
          await tx.webhookDeliveries.cancelPending(workspaceId, updated.id);
        return updated;
      });
      if (!webhook) throw notFound('webhook', request.params.id);
      return webhook;
    },
  );

  app.delete(
    '/webhooks/:id',
    {
      schema: {
        tags,
        summary: 'Delete a subscription with its pending deliveries and delivery log',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const workspaceId = authOf(request).workspace.id;
      const deleted = await store.transaction(async (tx) => {
        if (!(await tx.webhooks.delete(workspaceId, request.params.id))) return false;
        await tx.webhookDeliveries.deleteForWebhook(workspaceId, request.params.id);
        return true;
      });
      if (!deleted) throw notFound('webhook', request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/webhooks/:id/deliveries',
    {
      schema: {
        tags,
        summary: 'Deliveries of a subscription, newest first, each with its attempts',
        params: IdParams,
        querystring: DeliveryQuery,
        response: { 200: PageOf(DeliverySchema, 'Webhook delivery page'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const workspaceId = authOf(request).workspace.id;
      if (!(await store.webhooks.get(workspaceId, request.params.id))) throw notFound('webhook', request.params.id);
      return store.webhookDeliveries.list(
        workspaceId,
        { webhookId: request.params.id, status: request.query.status },
        { limit: request.query.limit ?? DEFAULT_PAGE_SIZE, cursor: request.query.cursor },
      );
    },
  );

  app.get(
    '/executions/:id/deliveries',
    {
      schema: {
        tags,
        summary: "Webhook deliveries of an execution's events (its webhook_url and subscriptions)",
        params: IdParams,
        querystring: DeliveryQuery,
        response: { 200: PageOf(DeliverySchema, 'Webhook delivery page'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const workspaceId = authOf(request).workspace.id;
      if (!(await store.executions.get(workspaceId, request.params.id, true)))
        throw notFound('execution', request.params.id);
      return store.webhookDeliveries.list(
        workspaceId,
        { executionId: request.params.id, status: request.query.status },
        { limit: request.query.limit ?? DEFAULT_PAGE_SIZE, cursor: request.query.cursor },
      );
    },
  );
};
