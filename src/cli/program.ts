import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from '../config.js';
import { packageFile } from '../package-files.js';
import { addExecutionCommands } from './remote/executions-command.js';
import { type CommandIo, DEFAULT_SERVER_URL, serverAction } from './remote/server-options.js';
import { addSignalCommand } from './remote/signal-command.js';
import { addWorkflowCommands } from './remote/workflows-command.js';
import type { ServeFlags } from './serve-command.js';
import type { ValidateReport } from './validate-command.js';
import type { WorkerFlags } from './worker-command.js';

// Each command imports what it runs when it runs: the server, the engine and the built-in task
// types take seconds to load, and `weft executions list` needs none of them.

/** The `weft` command line (docs/cli.md), writing to `io`. */
function weftProgram(io: CommandIo): Command {
  const program = new Command()
    .name('weft')
    .description('Durable multi-step workflows: server and tools. Configuration comes from WEFT_* variables.')
    .version(packageVersion(), '-V, --version', 'print the version of weft')
    .showHelpAfterError()
    // `--version` after a command is the command's own (`workflows show --version 2`).
    .enablePositionalOptions()
    // Commander's help and refusals go to `io`, and end `runWeft` instead of the process.
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .exitOverride();

  program
    .command('serve')
    .description('serve the API and docs (SQLite in ./data unless WEFT_DATABASE_URL says otherwise)')
    .option('--port <port>', 'HTTP port (WEFT_PORT, default 8080)')
    .option('--host <host>', 'interface to bind (WEFT_HOST, default 0.0.0.0)')
    .option('--data-dir <dir>', 'folder of the SQLite file and the bootstrap admin key (WEFT_DATA_DIR, default ./data)')
    .action(async (flags: ServeFlags) => {
      const { startServer, withServeFlags } = await import('./serve-command.js');
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
    .description(
      "validate a workflow definition file against this process's task types (built-in and WEFT_PLUGINS), or a server's with --url; exits 1 when it is invalid",
    )
    .argument('<file>', 'definition JSON file')
    .option('--url <url>', "validate on this server, against its workspace's task types (workers' included)")
    .addOption(new Option('--api-key <key>', 'API key for --url (prefer the variable)').env('WEFT_API_KEY'))
    .action(async (file: string, flags: { url?: string }, command: Command) => {
      const print = (report: ValidateReport) => {
        const out = report.exitCode === 0 ? io.stdout : io.stderr;
        out.write(`${report.lines.join('\n')}\n`);
        return report.exitCode;
      };
      const { validateFile, validateFileOnServer } = await import('./validate-command.js');
      if (flags.url !== undefined) {
        await serverAction(io, async (context) => print(await validateFileOnServer(file, context.client)))(
          file,
          flags,
          command,
        );
        return;
      }
      const { taskTypesWithPlugins } = await import('../tasks/plugins.js');
      const { taskTypes } = await taskTypesWithPlugins(loadConfig().plugins);
      io.setExitCode(print(await validateFile(file, taskTypes)));
    });

  program
    .command('run')
    .description(
      'run a workflow file once on an embedded store (task types: built-in and WEFT_PLUGINS), with live progress; prints the output as JSON',
    )
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
      const [{ configureExpressionLimits }, { taskTypesWithPlugins }, { runWorkflowFile }] = await Promise.all([
        import('../expressions/index.js'),
        import('../tasks/plugins.js'),
        import('./run-command.js'),
      ]);
      const config = loadConfig();
      configureExpressionLimits({ timeoutMs: config.expressionTimeoutMs, maxDepth: config.expressionMaxDepth });
      const { taskTypes } = await taskTypesWithPlugins(config.plugins);
      io.setExitCode(
        await runWorkflowFile(file, {
          taskTypes,
          input: flags.input,
          database: flags.database,
          signals: flags.signal,
          llmBaseUrl: config.llmBaseUrl,
          llmApiKey: config.llmApiKey,
          llmModel: config.llmModel,
          progress: io.stderr,
          output: io.stdout,
        }),
      );
    });

  program
    .command('worker')
    .description('run an external task worker: the module exports `handlers` mapping task types to handlers')
    .argument('<module>', 'worker module (a path from the working directory, or a package name)')
    .addOption(new Option('--url <url>', 'the Weft server').env('WEFT_URL').default(DEFAULT_SERVER_URL))
    .addOption(new Option('--api-key <key>', 'API key (role worker, member or admin)').env('WEFT_API_KEY'))
    .option('--types <types>', "comma-separated task types to serve (default: all of the module's)")
    .option('--concurrency <n>', 'tasks run at once', '10')
    .addOption(
      new Option('--worker-id <id>', 'shown in timelines (default <host>-<pid>-<random>)').env('WEFT_WORKER_ID'),
    )
    .option('--wait-seconds <s>', 'long-poll wait, 0..30', '20')
    .option(
      '--grace-seconds <s>',
      'on SIGTERM/SIGINT: how long running tasks may finish before they are released',
      '10',
    )
    .action(async (module: string, flags: WorkerFlags) => {
      const { runWorkerCommand } = await import('./worker-command.js');
      const { logLevel, logFormat } = loadConfig();
      const exitCode = await runWorkerCommand(module, flags, {
        stdout: io.stdout,
        stderr: io.stderr,
        logLevel,
        logFormat,
      });
      if (exitCode !== undefined) io.setExitCode(exitCode);
    });

  addWorkflowCommands(program, io);
  addExecutionCommands(program, io);
  addSignalCommand(program, io);

  program
    .command('migrate')
    .description('apply pending database migrations and exit')
    .action(async () => {
      const { runMigrations } = await import('./migrate-command.js');
      const applied = await runMigrations(loadConfig(), (error) => io.stderr.write(`database: ${error.message}\n`));
      io.stdout.write(applied.length > 0 ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
    });

  return program;
}

/**
 * Runs `weft <args>` and resolves with its exit code once the command has done its work (a
 * `serve` or `worker` keeps running after that). bin/weft.js runs it with the process's streams;
 * tests run the commands that talk to a server in their own process with captured ones. Errors
 * that are not the command's own refusals (bugs) reject.
 */
export async function runWeft(args: readonly string[], io: CommandIo): Promise<number> {
  let exitCode = 0;
  const recording: CommandIo = {
    ...io,
    setExitCode(code) {
      exitCode = code;
      io.setExitCode(code);
    },
  };
  try {
    await weftProgram(recording).parseAsync(args, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    throw error;
  }
}

/** The version in the package's package.json. */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}
