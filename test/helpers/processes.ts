import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-files.js';
import type { TestDatabase } from './backends.js';

/** `weft` child processes for tests that need real processes (crash, scale-out, CLI). */

/** The checkout's root, also when the tests run compiled from .test-build/ (scripts/compile-tests.mjs). */
export const ROOT = PACKAGE_ROOT;
const CLI = ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts')];

/** The one-file build of the command (scripts/bundle-server.mjs), rewritten by every build. */
const BUNDLE = path.join(ROOT, 'dist/bundle/weft.cjs');
/** What runs the bundle, as the installed `weft` command does (from V8's code cache, bin/load-bundle.js). */
const BUILT_CLI = path.join(ROOT, 'bin/weft.js');

/** The newest modification time of the files under `dir` (0 when there are none). */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

let builtIsFresh: boolean | undefined;

/**
 * The `weft` command line of a child process: the one-file build (`dist/bundle/weft.cjs`, made by
 * `npm install`, and by scripts/run-tests.mjs when the sources are newer) when it is newer than
 * every source file: it starts in a fifth of the time the sources take through tsx, and the suite
 * starts hundreds of children. Else (a file run on its own after an edit) the sources through
 * tsx. A child that loads TypeScript modules of its own (a plugin in `WEFT_PLUGINS`) needs tsx
 * either way.
 */
export function weftCli(options: { typescript?: boolean } = {}): string[] {
  builtIsFresh ??= existsSync(BUNDLE) && statSync(BUNDLE).mtimeMs >= newestMtime(path.join(ROOT, 'src'));
  if (!builtIsFresh) return CLI;
  return options.typescript ? ['--import', 'tsx', BUILT_CLI] : [BUILT_CLI];
}

/** How `weft serve` children start (see weftCli). */
function serveCommand(env: Record<string, string>, args: readonly string[]): string[] {
  const tsPlugin = (env.WEFT_PLUGINS ?? '').split(',').some((module) => module.trim().endsWith('.ts'));
  return [...weftCli({ typescript: tsPlugin }), 'serve', ...args];
}

/** A running `weft serve` child. */
export interface ServeProcess {
  child: ChildProcess;
  url: string;
  output: { text: string };
  /** Sends a signal and waits for the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
}

/**
 * Durability of the children's commits unless `env` says otherwise: the tests kill `weft serve`
 * processes, never the database server or the machine, and both settings are safe against a killed
 * process (docs/configuration.md, durability); the in-process tests' databases use the same. A
 * commit then waits for no disk flush: with FULL and `on`, every claim, completion and settle of
 * the crash tests' hundreds of executions waited for one.
 */
const TEST_DURABILITY = { WEFT_SQLITE_SYNCHRONOUS: 'NORMAL', WEFT_PG_SYNCHRONOUS_COMMIT: 'off' };

/**
 * The children's log level unless `env` says otherwise: at `info` every execution's start and end
 * is a line (docs/logging.md), and the crash and scale-out tests run thousands of executions.
 */
const TEST_LOGS = { WEFT_LOG_LEVEL: 'warn' };

/**
 * The children's expression time limit unless `env` says otherwise: it is wall time, and a child
 * shares two cores with three other test files and their children, so the default 1 s tripped
 * on a neighbour's load (a one-line `for_each` expression "ran longer than 1000 ms"). The limit
 * itself is tested in process (expressions.limits.serial).
 */
const TEST_EXPRESSION_LIMIT = { WEFT_EXPRESSION_TIMEOUT_MS: '10000' };

/** Starts `weft serve` with `env` (and `args`, its flags) and waits for its `weft is serving` line. */
export async function startServe(env: Record<string, string>, args: readonly string[] = []): Promise<ServeProcess> {
  // BENCH_SERVE_NODE_ARGS: flags for the child's node (`--cpu-prof`, which NODE_OPTIONS refuses).
  const nodeArgs = process.env.BENCH_SERVE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, ...serveCommand(env, args)], {
    cwd: ROOT,
    env: {
      ...process.env,
      WEFT_PORT: '0',
      WEFT_HOST: '127.0.0.1',
      ...TEST_DURABILITY,
      ...TEST_LOGS,
      ...TEST_EXPRESSION_LIMIT,
      ...env,
    },
  });
  const output = { text: '' };
  child.stderr.on('data', (chunk) => {
    output.text += chunk;
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running: an orphan polling its database would slow every test after it.
      child.kill('SIGKILL');
      reject(new Error(`weft serve did not start in 30 s:\n${output.text}`));
    }, 30_000);
    let serving = false;
    child.stdout.on('data', (chunk) => {
      output.text += chunk;
      // Matched once: the output keeps growing, and scanning all of it again per chunk was quadratic.
      if (serving) return;
      const match = /weft is serving on (http:\/\/\S+) /.exec(output.text);
      if (match?.[1]) {
        serving = true;
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`weft serve exited with ${code}:\n${output.text}`));
    });
  });
  return {
    child,
    url,
    output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Starts one `weft serve` per env on `database`, all at once: the database is migrated here first,
 * so that no two of them migrate a new database together. Each start is mostly loading code; one
 * after the other, they were most of some tests' time.
 */
export async function startServes(
  database: TestDatabase,
  envs: readonly Record<string, string>[],
): Promise<ServeProcess[]> {
  const store = database.open();
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
  const results = await Promise.allSettled(envs.map((env) => startServe(env)));
  const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) {
    // None is left running when one could not start.
    for (const serve of started) await serve.stop('SIGKILL');
    throw failed.reason;
  }
  return started;
}

/** How a `weft` command child ended. */
export interface FinishedCli {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A `weft` command child under way: its output so far, and its end. */
export interface RunningCli {
  child: ChildProcess;
  output: { stdout: string; stderr: string };
  done: Promise<FinishedCli>;
}

/** How startCli runs a command; `command` replaces the `weft` command line (another copy's `bin/weft.js`). */
export interface CliOptions {
  env?: Record<string, string>;
  stdin?: string;
  typescript?: boolean;
  command?: readonly string[];
}

/**
 * Starts `weft <args>` with `env` added to the test's environment; `stdin` is written to it (its
 * stdin is closed either way, so a command reading it never waits). `typescript` when the child
 * loads TypeScript modules of its own (a plugin in `WEFT_PLUGINS`).
 */
export function startCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  const child = spawn(
    process.execPath,
    [...(options.command ?? weftCli({ typescript: options.typescript })), ...args],
    {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
    },
  );
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk) => {
    output.stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output.stderr += chunk;
  });
  child.stdin?.end(options.stdin ?? '');
  const done = new Promise<FinishedCli>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, ...output }));
  });
  return { child, output, done };
}

/** Runs `weft <args>` to its end (see startCli). */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<FinishedCli> {
  return startCli(args, options).done;
}
