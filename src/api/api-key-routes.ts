import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { forgetApiKeys } from '../auth/api-key-cache.js';
import { apiKeyPrefix, generateApiKey, hashApiKey } from '../auth/api-key-secrets.js';
import { notFound, WeftError } from '../errors.js';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { ApiKeySchema, errorResponses, IdParams, PageOf, PageQuery, RoleSchema } from './schemas.js';

const CreateApiKeyBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 255 }), role: RoleSchema },
  { additionalProperties: false },
);

const CreatedApiKey = Type.Object(
  {
    ...ApiKeySchema.properties,
    key: Type.String({ description: 'The raw key. Shown only in this response.' }),
  },
  { title: 'Created API key' },
);

/**
 * `POST/GET /api-keys`, `DELETE /api-keys/{id}`: admins and owners, within the acting workspace.
 * Only an owner creates or revokes `owner` keys: an admin can neither raise a key above its own
 * workspace nor lock the operator out.
 */
export const apiKeyRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store }) => {
  app.post(
    '/api-keys',
    {
      config: { roles: ['admin'] },
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key (the raw key is returned once); only owners create owner keys',
        body: CreateApiKeyBody,
        response: { 201: CreatedApiKey, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { workspace, key: caller } = authOf(request);
      if (request.body.role === 'owner' && caller.role !== 'owner') {
        throw new WeftError('FORBIDDEN', 'only an owner key may create owner keys');
      }
      const raw = generateApiKey();
      const key = await store.apiKeys.create({
        workspaceId: workspace.id,
        name: request.body.name,
        role: request.body.role,
        prefix: apiKeyPrefix(raw),
        keyHash: hashApiKey(raw),
      });
      return reply.status(201).send({ ...key, key: raw });
    },
  );

  app.get(
    '/api-keys',
    {
      config: { roles: ['admin'] },
      schema: {
        tags: ['api-keys'],
        summary: 'List the API keys of the workspace (without secrets)',
        querystring: Type.Object(PageQuery),
        response: { 200: PageOf(ApiKeySchema, 'API key page'), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { workspace } = authOf(request);
      return store.apiKeys.list(workspace.id, {
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
        cursor: request.query.cursor,
      });
    },
  );

  app.delete(
    '/api-keys/:id',
    {
      config: { roles: ['admin'] },
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key (owner keys only by an owner)',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { workspace, key } = authOf(request);
      if (request.params.id === key.id) {
        throw new WeftError('CONFLICT', 'a key cannot revoke itself; use another admin key');
      }
      const target = await store.apiKeys.get(workspace.id, request.params.id);
      if (!target) throw notFound('API key', request.params.id);
      if (target.role === 'owner' && key.role !== 'owner') {
        throw new WeftError('FORBIDDEN', 'only an owner key may revoke an owner key');
      }
      if (!(await store.apiKeys.delete(workspace.id, request.params.id))) throw notFound('API key', request.params.id);
      // Other processes stop accepting it within API_KEY_CACHE_MS (api-key-cache.ts).
      forgetApiKeys(store);
      return reply.status(204).send(null);
    },
  );
};
