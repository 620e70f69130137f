import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../logger.js';
import { createWorker, type WeftWorker } from '../sdk/worker.js';
import { handlersProblem, type WorkerHandlers } from '../sdk/worker-handlers.js';
import { importUserModule } from '../user-modules.js';

/**
 * `weft worker <module>`: runs an external task worker whose handlers come from a module's
 * `handlers` export (or its default export): an object mapping task types to handler functions
 * or `{handler, description?, inputSchema?, outputSchema?, leaseSeconds?}`. It prints one plain
 * line `weft worker <id> is polling <url> for <types>` once polling, and on SIGTERM or SIGINT
 * finishes or releases its tasks and exits 0. Unusable input (module, key, numbers) exits 2.
 */

/** Flags of `weft worker`, as commander parses them. */
export interface WorkerFlags {
  url: string;
  apiKey: string | undefined;
  /** Comma-separated subset of the module's types; default all. */
  types: string | undefined;
  concurrency: string;
  workerId: string | undefined;
  waitSeconds: string;
  graceSeconds: string;
}

/** Where the command writes; the process streams unless a test says otherwise. */
export interface WorkerIo {
  stdout: { write(text: string): boolean };
  stderr: { write(text: string): boolean };
  logLevel: string;
  /** WEFT_LOG_FORMAT; unset, by whether stdout is a terminal. */
  logFormat?: 'json' | 'pretty' | undefined;
}

/** A module that cannot serve as a worker: the message says why. */
class UnusableInput extends Error {}

/** Imports the module (a path from the working directory, or a package name) and returns its handlers. */
export async function loadWorkerModule(specifier: string, cwd = process.cwd()): Promise<WorkerHandlers> {
  const target =
    specifier.startsWith('.') || path.isAbsolute(specifier) || /\.[cm]?[jt]s$/.test(specifier)
      ? pathToFileURL(path.resolve(cwd, specifier)).href
      : specifier;
  let module: Record<string, unknown>;
  try {
    module = await importUserModule(target);
  } catch (error) {
    throw new UnusableInput(`cannot load '${specifier}': ${(error as Error).message}`, { cause: error });
  }
  const exported = module.handlers ?? module.default;
  if (exported === undefined) {
    throw new UnusableInput(
      `'${specifier}' exports no handlers: export \`handlers\` (or a default export) mapping task types to handlers`,
    );
  }
  const problem = handlersProblem(exported);
  if (problem) throw new UnusableInput(`'${specifier}' has unusable handlers: ${problem}`);
  return exported as WorkerHandlers;
}

function numberFlag(name: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new UnusableInput(`${name} must be a number of at least 0, got '${text}'`);
  }
  return value;
}

/** Loads the module and creates the worker, or answers exit code 2 with a message for unusable input. */
async function prepareWorker(
  specifier: string,
  flags: WorkerFlags,
  io: WorkerIo,
): Promise<{ exitCode: number } | { worker: WeftWorker; graceMs: number }> {
  let worker: WeftWorker;
  let graceMs: number;
  try {
    if (!flags.apiKey) throw new UnusableInput('give an API key with --api-key or WEFT_API_KEY');
    const handlers = await loadWorkerModule(specifier);
    graceMs = numberFlag('--grace-seconds', flags.graceSeconds) * 1000;
    const types = flags.types?.split(',').map((type) => type.trim());
    worker = createWorker({
      baseUrl: flags.url,
      apiKey: flags.apiKey,
      handlers,
      ...(types === undefined ? {} : { types }),
      concurrency: numberFlag('--concurrency', flags.concurrency),
      pollWaitSeconds: numberFlag('--wait-seconds', flags.waitSeconds),
      ...(flags.workerId === undefined ? {} : { workerId: flags.workerId }),
      logger: createLogger(io.logLevel, undefined, io.logFormat),
    });
  } catch (error) {
    // Invalid option values from createWorker (a RangeError or TypeError) are unusable input too.
    if (error instanceof UnusableInput || error instanceof RangeError || error instanceof TypeError) {
      io.stderr.write(`weft worker: ${error.message}\n`);
      return { exitCode: 2 };
    }
    throw error;
  }
  return { worker, graceMs };
}

/**
 * Starts `weft worker` and returns undefined while it runs (until SIGTERM or SIGINT, which exit
 * the process), or the exit code when it cannot start: 2 for unusable input, 1 when the server
 * refused it (a bad key, a built-in type name).
 */
export async function runWorkerCommand(
  specifier: string,
  flags: WorkerFlags,
  io: WorkerIo,
): Promise<number | undefined> {
  const prepared = await prepareWorker(specifier, flags, io);
  if ('exitCode' in prepared) return prepared.exitCode;
  const { worker, graceMs } = prepared;
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    stopping = true;
    // Without listeners, a second SIGTERM or SIGINT ends the process at once (Node's default).
    process.off('SIGTERM', shutdown);
    process.off('SIGINT', shutdown);
    io.stderr.write(
      `weft worker: ${signal}: stopping; running tasks have ${graceMs / 1000} s to finish, then go back to the queue ` +
        '(signal again to quit at once)\n',
    );
    worker.stop({ graceMs }).then(
      () => process.exit(0),
      (error: unknown) => {
        io.stderr.write(`weft worker: stopping failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  // Installed before start(): a signal while the types are being declared stops cleanly too.
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  try {
    await worker.start();
  } catch (error) {
    io.stderr.write(`weft worker: cannot start: ${(error as Error).message}\n`);
    process.off('SIGTERM', shutdown);
    process.off('SIGINT', shutdown);
    await worker.stop({ graceMs: 0 });
    return 1;
  }
  // A plain line whatever the log level: people and scripts wait for it.
  if (!stopping) io.stdout.write(`weft worker ${worker.id} is polling ${flags.url} for ${worker.types.join(', ')}\n`);
  return undefined;
}
