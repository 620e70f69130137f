import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** `weft` child processes for tests that need real processes (crash, scale-out, CLI). */

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts')];

const BUILT_CLI = path.join(ROOT, 'dist/cli/main.js');

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
 * How `weft serve` children start: from the build (`dist/`, made by `npm install`) when it is
 * newer than every source file, which starts about twice as fast as through tsx and the suite
 * starts dozens of them; else (sources edited since the build) through tsx. A TypeScript plugin
 * in `WEFT_PLUGINS` needs tsx either way.
 */
function serveCommand(env: Record<string, string>): string[] {
  builtIsFresh ??= existsSync(BUILT_CLI) && statSync(BUILT_CLI).mtimeMs >= newestMtime(path.join(ROOT, 'src'));
  const tsPlugin = (env.WEFT_PLUGINS ?? '').split(',').some((module) => module.trim().endsWith('.ts'));
  if (!builtIsFresh) return [...CLI, 'serve'];
  return tsPlugin ? ['--import', 'tsx', BUILT_CLI, 'serve'] : [BUILT_CLI, 'serve'];
}

/** A running `weft serve` child. */
export interface ServeProcess {
  child: ChildProcess;
  url: string;
  output: { text: string };
  /** Sends a signal and waits for the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
}

/** Starts `weft serve` with `env` and waits for its `weft is serving` line. */
export async function startServe(env: Record<string, string>): Promise<ServeProcess> {
  const child = spawn(process.execPath, serveCommand(env), {
    cwd: ROOT,
    env: { ...process.env, WEFT_PORT: '0', WEFT_HOST: '127.0.0.1', ...env },
  });
  const output = { text: '' };
  child.stderr.on('data', (chunk) => {
    output.text += chunk;
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`weft serve did not start:\n${output.text}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      output.text += chunk;
      const match = /weft is serving on (http:\/\/\S+) /.exec(output.text);
      if (match?.[1]) {
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
