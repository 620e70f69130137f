#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { loadConfig } from '../config.js';
import { WeftError } from '../errors.js';
import { configureExpressionLimits } from '../expressions/index.js';
import { runMigrations } from './migrate-command.js';
import { runWorkflowFile } from './run-command.js';
import { type ServeFlags, startServer, withServeFlags } from './serve-command.js';
import { validateFile } from './validate-command.js';
import { runWorkerCommand, type WorkerFlags } from './worker-command.js';

/** The `weft` command line. */
const program = new Command()
  .name('weft')
  .description('Durable multi-step workflows: server and tools. Configuration comes from WEFT_* variables.')
  .version(packageVersion(), '-V, --version', 'print the version of weft')
  .showHelpAfterError();

program
  .command('serve')
  .description('serve the API and docs (SQLite in ./data unless WEFT_DATABASE_URL says otherwise)')
  .option('--port <port>', 'HTTP port (WEFT_PORT, default 8080)')
  .option('--host <host>', 'interface to bind (WEFT_HOST, default 0.0.0.0)')
  .option('--data-dir <dir>', 'folder of the SQLite file and the bootstrap admin key (WEFT_DATA_DIR, default ./data)')
  .action(async (flags: ServeFlags) => {
    const server = await startServer(loadConfig(withServeFlags(process.env, flags)));
    const shutdown = (signal: string) => {
      server.app.log.info({ signal }, 'shutting down');
      server.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          server.app.log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });

program
  .command('validate')
  .description('validate a workflow definition file; exits 1 when it is invalid')
  .argument('<file>', 'definition JSON file')
  .action(async (file: string) => {
    const report = await validateFile(file);
    const out = report.exitCode === 0 ? process.stdout : process.stderr;
    out.write(`${report.lines.join('\n')}\n`);
    process.exitCode = report.exitCode;
  });

program
  .command('run')
  .description('run a workflow file once on an embedded store, with live progress; prints the output as JSON')
  .argument('<file>', 'definition JSON file')
  .option('--input <json>', 'execution input as JSON', '{}')
  .option('--database <url>', 'keep the run in this SQLite file or PostgreSQL database instead of memory')
  .option(
    '--signal <name=json>',
    'send a signal to the run as soon as it starts (repeatable); without it a run waiting for a signal exits 3',
    (value: string, previous: string[]) => [...previous, value],
    [] as string[],
  )
  .action(async (file: string, flags: { input: string; database?: string; signal: string[] }) => {
    const config = loadConfig();
    configureExpressionLimits({ timeoutMs: config.expressionTimeoutMs, maxDepth: config.expressionMaxDepth });
    process.exitCode = await runWorkflowFile(file, {
      input: flags.input,
      database: flags.database,
      signals: flags.signal,
      llmBaseUrl: config.llmBaseUrl,
      llmApiKey: config.llmApiKey,
      llmModel: config.llmModel,
      progress: process.stderr,
      output: process.stdout,
    });
  });

program
  .command('worker')
  .description('run an external task worker: the module exports `handlers` mapping task types to handlers')
  .argument('<module>', 'worker module (a path from the working directory, or a package name)')
  .addOption(new Option('--url <url>', 'the Weft server').env('WEFT_URL').default('http://127.0.0.1:8080'))
  .addOption(new Option('--api-key <key>', 'API key (role worker, member or admin)').env('WEFT_API_KEY'))
  .option('--types <types>', "comma-separated task types to serve (default: all of the module's)")
  .option('--concurrency <n>', 'tasks run at once', '10')
  .addOption(new Option('--worker-id <id>', 'shown in timelines (default <host>-<pid>-<random>)').env('WEFT_WORKER_ID'))
  .option('--wait-seconds <s>', 'long-poll wait, 0..30', '20')
  .option('--grace-seconds <s>', 'on SIGTERM/SIGINT: how long running tasks may finish before they are released', '10')
  .action(async (module: string, flags: WorkerFlags) => {
    const { logLevel, logFormat } = loadConfig();
    const exitCode = await runWorkerCommand(module, flags, {
      stdout: process.stdout,
      stderr: process.stderr,
      logLevel,
      logFormat,
    });
    if (exitCode !== undefined) process.exitCode = exitCode;
  });

program
  .command('migrate')
  .description('apply pending database migrations and exit')
  .action(async () => {
    const applied = await runMigrations(loadConfig(), (error) => process.stderr.write(`database: ${error.message}\n`));
    process.stdout.write(applied.length > 0 ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
  });

/** The version in package.json (two folders up from src/cli/ and from dist/cli/ alike). */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof WeftError ? `${error.code}: ${error.message}` : (error as Error).stack;
  process.stderr.write(`weft: ${message}\n`);
  process.exit(1);
});
