import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { errorResponses, PageOf, PageQuery, WorkspaceSchema } from './schemas.js';

const CreateWorkspaceBody = Type.Object(
  {
    slug: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: 'Lowercase letters, digits and dashes.' }),
    name: Type.String({ minLength: 1, maxLength: 255 }),
  },
  { additionalProperties: false },
);

/**
 * `POST/GET /workspaces`: the owner (instance operator) creates workspaces and lists all of them;
 * every other key sees only its own.
 */
export const workspaceRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store }) => {
  app.post(
    '/workspaces',
    {
      config: { roles: ['owner'] },
      schema: {
        tags: ['workspaces'],
        summary: 'Create a workspace (owner keys only)',
        body: CreateWorkspaceBody,
        response: { 201: WorkspaceSchema, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const workspace = await store.workspaces.create(request.body);
      return reply.status(201).send(workspace);
    },
  );

  app.get(
    '/workspaces',
    {
      schema: {
        tags: ['workspaces'],
        summary: 'List workspaces (all for owner keys, the own one otherwise)',
        querystring: Type.Object(PageQuery),
        response: { 200: PageOf(WorkspaceSchema, 'Workspace page'), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { key } = authOf(request);
      const page = { limit: request.query.limit ?? DEFAULT_PAGE_SIZE, cursor: request.query.cursor };
      return store.workspaces.list(page, key.role === 'owner' ? undefined : key.workspace_id);
    },
  );
};
