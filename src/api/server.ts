import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { artifactRoutes } from '../artifacts/artifact-routes.js';
import type { WeftConfig } from '../config.js';
import type { Engine } from '../engine/engine.js';
import { logCommitted } from '../engine/engine-log.js';
import { ExternalTasks } from '../engine/external-tasks.js';
import { EventBus } from '../events/event-bus.js';
import { ExecutionEnds } from '../events/execution-ends.js';
import { Scheduler } from '../events/scheduler.js';
import { itemRoutes } from '../items/item-routes.js';
import { enableProcessMetrics, recordCommittedLog, recordHttpRequest } from '../metrics/metrics.js';
import { signalRoutes } from '../signals/signal-routes.js';
import type { Store } from '../store/store.js';
import type { TaskTypeRegistry } from '../tasks/registry.js';
import { workerRoutes } from '../workers/worker-routes.js';
import { WorkerSightings } from '../workers/worker-sightings.js';
import type { ApiContext } from './api-context.js';
import { apiKeyRoutes } from './api-key-routes.js';
import { installAuthentication } from './auth.js';
import { clientErrorHandler, frameworkErrors, refuseExpectation } from './client-errors.js';
import { CorsOrigins, installCors } from './cors.js';
import { installErrorHandling } from './errors.js';
import { eventRoutes } from './event-routes.js';
import { executionBatchRoutes } from './execution-batch-routes.js';
import { executionDefinitionRoutes } from './execution-definition-routes.js';
import { executionListRoutes } from './execution-list-routes.js';
import { executionRoutes } from './execution-routes.js';
import { healthRoutes } from './health-routes.js';
import { lazySerializerFactory } from './lazy-serializers.js';
import { shareNamedSchemas } from './openapi-components.js';
import { completeDocument } from './openapi-document.js';
import { installRequestLimits } from './request-limits.js';
import { compileRequestSchema } from './request-validation.js';
import { secretRoutes } from './secret-routes.js';
import { prometheusRoutes, statsRoutes } from './stats-routes.js';
import { streamRoutes } from './stream-routes.js';
import { taskRoutes } from './task-routes.js';
import { taskTypeRoutes } from './task-type-routes.js';
import { templateRoutes } from './template-routes.js';
import { webUiRoutes } from './web-ui-routes.js';
import { webhookRoutes } from './webhook-routes.js';
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
    // Longer path parameters than Fastify's 100 characters reach the route schemas (a 400 problem,
    // not a bare 414); task ids name their step and run to about 170 characters.
    routerOptions: { maxParamLength: 1000 },
    loggerInstance: options.logger,
    bodyLimit: options.config.bodyLimitBytes,
    // Requests that never reach a route (bad HTTP, bad URLs) are answered as problem+json too.
    clientErrorHandler: clientErrorHandler(options.logger),
    frameworkErrors,
    // A missing Host header is answered by request-limits.ts (as problem+json), not by Node.
    http: { requireHostHeader: false },
    // One log line per request costs throughput; they are logged only at debug level and below.
    logController: new LogController({ disableRequestLogging: !['debug', 'trace'].includes(options.logger.level) }),
    schemaController: { compilersFactory: { buildSerializer: lazySerializerFactory() } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Every answer is timed under its route's pattern, never its URL (bounded series); first, so every
  // route and the not-found handler have the hook.
  app.addHook('onResponse', (request, reply, done) => {
    recordHttpRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  app.setValidatorCompiler(compileRequestSchema);
  // The API speaks JSON only; any other body type is a 415, not a string handed to a route.
  app.removeContentTypeParser('text/plain');
  installErrorHandling(app, (error) => options.store.isUnavailableError(error));
  const corsOrigins = new CorsOrigins(options.config.corsOrigins);
  installCors(app, corsOrigins);
  installRequestLimits(app);
  app.server.on('checkExpectation', refuseExpectation);

  // Before the plugin's own shutdown (which closes sockets without a reason), streams are told why.
  app.addHook('preClose', async () => {
    for (const client of app.websocketServer.clients) client.close(1001, 'the server is shutting down');
  });
  // Registered before every route, as it requires, so an upgrade to a plain route is refused.
  await app.register(websocket, {
    errorHandler: (error, socket, request) => {
      request.log.warn({ err: error }, 'a stream socket failed');
      socket.terminate();
    },
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Weft API',
        version: '1',
        license: { name: 'MIT', identifier: 'MIT' },
        description:
          'Durable multi-step workflows. Authenticate with `Authorization: Bearer <api key>`. Errors are RFC 9457 ' +
          'problem+json; lists are `{items, next_cursor}`, newest first. Live events: WebSocket ' +
          '`/api/v1/executions/{id}/stream` and `/api/v1/stream` (not listed here; see docs/streams.md).',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
    transformObject: (documents) =>
      completeDocument(
        shareNamedSchemas(('openapiObject' in documents ? documents.openapiObject : {}) as Record<string, unknown>),
      ),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const tasks = new ExternalTasks(options.store, options.engine);
  // Cron schedules fire in every serving process (each fire is taken by one of them).
  const scheduler = new Scheduler({
    store: options.store,
    engine: options.engine,
    logger: options.logger,
    pollMs: options.config.pollIntervalMs,
  });
  app.addHook('onReady', async () => scheduler.start());
  app.addHook('onClose', async () => scheduler.stop());
  // Waiting long polls answer (with no tasks) as the server closes instead of holding it up.
  app.addHook('preClose', async () => tasks.close());
  // One event bus per server feeds every stream (one LISTEN connection on PostgreSQL).
  const bus = new EventBus(options.store, (error) => options.logger.error({ err: error }, 'streaming an event failed'));
  app.addHook('onClose', async () => bus.close());
  const executionEnds = new ExecutionEnds(bus, (error) =>
    options.logger.error({ err: error }, 'listening for execution ends failed'),
  );
  // Starts waiting for their execution answer (202) as the server closes instead of holding it up.
  app.addHook('preClose', async () => executionEnds.close());
  // Metrics count what this process commits, after the commit, from what it wrote (no query); the
  // engine's log lines come from the same (engine-log.ts).
  enableProcessMetrics();
  const stopCounting = options.store.observeCommits((log) => {
    try {
      recordCommittedLog(log);
    } catch (error) {
      options.logger.error({ err: error }, 'counting committed changes for metrics failed');
    }
  });
  app.addHook('onClose', async () => stopCounting());
  const stopLogging = options.store.observeCommits((log) => {
    try {
      logCommitted(options.logger, log);
    } catch (error) {
      options.logger.error({ err: error }, 'logging committed changes failed');
    }
  });
  app.addHook('onClose', async () => stopLogging());
  const context: ApiContext = {
    store: options.store,
    taskTypes: options.taskTypes,
    config: options.config,
    engine: options.engine,
    tasks,
    sightings: new WorkerSightings(options.store, (error) =>
      options.logger.warn({ err: error }, 'recording a polling worker failed'),
    ),
    executionEnds,
  };
  await app.register(healthRoutes, context);
  await app.register(prometheusRoutes, context);
  // Streams authenticate themselves (header or `token` query) and report failures on the socket.
  await app.register(streamRoutes, { ...context, bus, corsOrigins, prefix: API_PREFIX });
  await app.register(
    async (api) => {
      installAuthentication(api, options.store);
      await api.register(workspaceRoutes, context);
      await api.register(apiKeyRoutes, context);
      await api.register(workflowRoutes, context);
      await api.register(templateRoutes, context);
      await api.register(executionRoutes, context);
      await api.register(executionBatchRoutes, context);
      await api.register(executionListRoutes, context);
      await api.register(executionDefinitionRoutes, context);
      await api.register(statsRoutes, context);
      await api.register(taskTypeRoutes, context);
      await api.register(taskRoutes, context);
      await api.register(workerRoutes, context);
      await api.register(webhookRoutes, context);
      await api.register(eventRoutes, context);
      await api.register(secretRoutes, context);
      await api.register(signalRoutes, context);
      await api.register(itemRoutes, context);
      await api.register(artifactRoutes, context);
    },
    { prefix: API_PREFIX },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await webUiRoutes(app);
  return app;
}
