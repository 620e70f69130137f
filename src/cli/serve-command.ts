import type { FastifyInstance } from 'fastify';
import { buildServer } from '../api/server.js';
import { metricsExposureWarning } from '../api/stats-routes.js';
import { bootstrapWorkspace } from '../auth/bootstrap.js';
import type { WeftConfig } from '../config.js';
import { closeInputValidation } from '../definition/input-validation.js';
import type { Engine } from '../engine/engine.js';
import { engineFromConfig } from '../engine/engine-from-config.js';
import { type WebhookDispatcher, webhookDispatcherFromConfig } from '../events/webhook-dispatcher.js';
import { ensurePrivateDirectorySync } from '../files/private-files.js';
import { createLogger } from '../logger.js';
import { openStore, type Store } from '../store/store.js';
import { taskTypesWithPlugins } from '../tasks/plugins.js';

/** `weft serve`'s flags; each wins over its variable. */
export interface ServeFlags {
  port?: string;
  host?: string;
  dataDir?: string;
}

/**
 * The environment with `weft serve`'s flags in place of their variables (`--port` → WEFT_PORT,
 * `--host` → WEFT_HOST, `--data-dir` → WEFT_DATA_DIR), so a flag is checked like its variable.
 */
export function withServeFlags(env: NodeJS.ProcessEnv, flags: ServeFlags): NodeJS.ProcessEnv {
  return {
    ...env,
    ...(flags.port === undefined ? {} : { WEFT_PORT: flags.port }),
    ...(flags.host === undefined ? {} : { WEFT_HOST: flags.host }),
    ...(flags.dataDir === undefined ? {} : { WEFT_DATA_DIR: flags.dataDir }),
  };
}

/** A running server and how to stop it. */
export interface RunningServer {
  app: FastifyInstance;
  engine: Engine;
  /** Sends queued webhook deliveries. */
  webhooks: WebhookDispatcher;
  store: Store;
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts Weft: opens the store, applies migrations, bootstraps the default workspace on an empty
 * database (printing the generated owner key once), and serves HTTP.
 */
export async function startServer(config: WeftConfig): Promise<RunningServer> {
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  // The data folder holds the database, the bootstrap key and artifacts: its owner's only.
  ensurePrivateDirectorySync(config.dataDir);
  const store = openStore(config, (error) => logger.warn({ err: error }, 'idle database connection failed'));
  try {
    const applied = await store.migrate();
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
    const bootstrap = await bootstrapWorkspace(store, { dataDir: config.dataDir, adminKey: config.adminKey });
    if (bootstrap.generatedKey) {
      // Printed once, on purpose outside the JSON log, so a person starting the server sees it.
      process.stdout.write(
        `\nWeft created the workspace 'default' and its owner API key (shown once, also saved to ${bootstrap.keyFile}):\n\n` +
          `  ${bootstrap.generatedKey}\n\n`,
      );
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  const { taskTypes, plugins } = await taskTypesWithPlugins(config.plugins).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  if (plugins.length > 0) logger.info({ task_types: plugins }, 'plugins loaded');
  const engine = engineFromConfig(store, taskTypes, logger, config);
  const app = await buildServer({ store, taskTypes, config, logger, engine });
  const webhooks = webhookDispatcherFromConfig(store, logger, config);
  await engine.start();
  await webhooks.start();
  const url = await app.listen({ port: config.port, host: config.host });
  const exposure = metricsExposureWarning(config);
  if (exposure) logger.warn({ host: config.host }, exposure);
  if (!config.secretsKey) {
    logger.warn(
      'WEFT_SECRETS_KEY is not set: workspace secrets are stored unencrypted in the database (see docs/secrets.md)',
    );
  }
  logger.info({ url, database: store.backend, docs: `${url}/docs`, owner: engine.owner }, 'weft is serving');
  // Also as a plain line, whatever the log level: people and scripts look for it.
  process.stdout.write(`weft is serving on ${url} (${store.backend}); web UI at ${url}/, API docs at ${url}/docs\n`);
  return {
    app,
    engine,
    webhooks,
    store,
    url,
    async stop() {
      await app.close();
      await engine.stop();
      await webhooks.stop();
      await store.close();
      await closeInputValidation();
    },
  };
}
