import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { WeftError } from '../errors.js';
import type { ApiContext } from './api-context.js';
import { errorResponses } from './schemas.js';

/** `/healthz` (the process is up) and `/readyz` (it can reach its database). Unauthenticated. */
export const healthRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store }) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness: the process answers',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: the database answers (503 when it does not)',
        response: {
          200: Type.Object({ status: Type.Literal('ready'), database: Type.String() }),
          ...errorResponses(503),
        },
      },
    },
    async () => {
      try {
        await store.ping();
      } catch (error) {
        throw new WeftError('DATABASE_UNAVAILABLE', `the ${store.backend} database does not answer`, { cause: error });
      }
      return { status: 'ready' as const, database: store.backend };
    },
  );
};
