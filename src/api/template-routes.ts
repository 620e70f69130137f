import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { starterTemplates } from '../definition/starter-templates.js';
import type { ApiContext } from './api-context.js';
import { errorResponses, JsonObject, PageOf } from './schemas.js';

const TemplateSchema = Type.Object(
  { id: Type.String(), name: Type.String(), description: Type.String(), definition: JsonObject },
  { title: 'Starter template' },
);

/** `GET /templates`: starter definitions to copy into `POST /workflows`. */
export const templateRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app) => {
  app.get(
    '/templates',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Starter definitions (a single page)',
        response: { 200: PageOf(TemplateSchema, 'Template page'), ...errorResponses(401, 403) },
      },
    },
    async () => ({ items: starterTemplates(), next_cursor: null }),
  );
};
