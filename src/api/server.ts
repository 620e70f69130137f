import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { WeftConfig } from '../config.js';
import type { Engine } from '../engine/engine.js';
import { ExternalTasks } from '../engine/external-tasks.js';
import type { Store } from '../store/store.js';
import type { TaskTypeRegistry } from '../tasks/registry.js';
import type { ApiContext } from './api-context.js';
import { apiKeyRoutes } from './api-key-routes.js';
import { installAuthentication } from './auth.js';
import { installErrorHandling } from './errors.js';
import { executionRoutes } from './execution-routes.js';
import { healthRoutes } from './health-routes.js';
import { compileRequestSchema } from './request-validation.js';
import { taskRoutes } from './task-routes.js';
import { taskTypeRoutes } from './task-type-routes.js';
import { templateRoutes } from './template-routes.js';
import { workflowRoutes } from './workflow-routes.js';
import { workspaceRoutes } from './workspace-routes.js';

/** Prefix of every resource route. */
export const API_PREFIX = '/api/v1';

/** What the HTTP server is built from. */
export interface ServerOptions {
  store: Store;
  taskTypes: TaskTypeRegistry;
  config: WeftConfig;
  logger: FastifyBaseLogger;
  engine: Engine;
}

/**
 * Builds the HTTP server: resource routes under `/api/v1` (authenticated), health routes, the
 * OpenAPI 3.1 document at `/openapi.json` and interactive docs at `/docs`. It does not listen.
 */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.config.bodyLimitBytes,
    // One log line per request costs throughput; they are logged only at debug level and below.
    logController: new LogController({ disableRequestLogging: !['debug', 'trace'].includes(options.logger.level) }),
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(compileRequestSchema);
  // The API speaks JSON only; any other body type is a 415, not a string handed to a route.
  app.removeContentTypeParser('text/plain');
  installErrorHandling(app, (error) => options.store.isUnavailableError(error));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Weft API',
        version: '1',
        description:
          'Durable multi-step workflows. Authenticate with `Authorization: Bearer <api key>`. Errors are RFC 9457 ' +
          'problem+json; lists are `{items, next_cursor}`, newest first.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const tasks = new ExternalTasks(options.store, options.engine);
  // Waiting long polls answer (with no tasks) as the server closes instead of holding it up.
  app.addHook('preClose', async () => tasks.close());
  const context: ApiContext = {
    store: options.store,
    taskTypes: options.taskTypes,
    config: options.config,
    engine: options.engine,
    tasks,
  };
  await app.register(healthRoutes, context);
  await app.register(
    async (api) => {
      installAuthentication(api, options.store);
      await api.register(workspaceRoutes, context);
      await api.register(apiKeyRoutes, context);
      await api.register(workflowRoutes, context);
      await api.register(templateRoutes, context);
      await api.register(executionRoutes, context);
      await api.register(taskTypeRoutes, context);
      await api.register(taskRoutes, context);
    },
    { prefix: API_PREFIX },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/docs'));
  return app;
}
