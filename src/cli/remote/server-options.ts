import { readFile } from 'node:fs/promises';
import { type Command, CommanderError, Option } from 'commander';
import { DEFAULT_PORT } from '../../config.js';
import { WeftApiError } from '../../sdk/api-error.js';
import { type ClientOptions, createClient, type WeftClient } from '../../sdk/client.js';

/**
 * What every command that talks to a server shares (docs/cli.md): the `--url` (`WEFT_URL`),
 * `--api-key` (`WEFT_API_KEY`) and `--json` flags, the client they make, reading JSON arguments
 * (`<json>`, `@file`, `-` for stdin), and how failures print: an API error as its problem's title,
 * detail and field errors, an unreachable server as one line, never a stack trace. Exit codes: 0
 * done, 1 the server refused (or could not be reached), 2 unusable arguments.
 */

/** The server a command talks to unless `--url` or `WEFT_URL` names another. */
export const DEFAULT_SERVER_URL = `http://127.0.0.1:${DEFAULT_PORT}`;

/** The shared flags, as commander parses them. */
interface ServerFlags {
  url: string;
  apiKey?: string;
  json?: boolean;
}

/**
 * Where a command reads and writes, and where its exit code goes: the process's own streams and
 * `process.exitCode` for the `weft` command, captured ones when a test runs it in its own process
 * (`runWeft` in ../program.ts).
 */
export interface CommandIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /** What a `-` argument reads. */
  stdin: NodeJS.ReadableStream;
  /** Records the code the command exits with. */
  setExitCode(code: number): void;
}

/** What a server command's handler receives. */
export interface ServerContext extends CommandIo {
  client: WeftClient;
  /** How the client was made (for the live stream, which is not an HTTP call). */
  connection: ClientOptions;
  /** `--json`: print the answer as JSON instead of tables and sentences. */
  json: boolean;
  /** Prints a value as indented JSON on stdout. */
  printJson(value: unknown): void;
  /** Prints a line on stdout. */
  print(line?: string): void;
}

/** Arguments a command cannot use (bad JSON, an unreadable file, no key): exit code 2. */
export class UsageError extends Error {}

/** Adds `--url`, `--api-key` and, unless the command has no JSON form, `--json`. */
export function withServerOptions(command: Command, options: { json?: boolean } = {}): Command {
  command
    .addOption(new Option('--url <url>', 'the Weft server').env('WEFT_URL').default(DEFAULT_SERVER_URL))
    .addOption(new Option('--api-key <key>', 'API key (prefer the variable: flags show in ps)').env('WEFT_API_KEY'));
  if (options.json !== false)
    command.option('--json', "print the API's answer as JSON (instead of a table or a sentence)");
  return command;
}

function connectionOf(flags: ServerFlags): ClientOptions {
  if (!flags.apiKey) throw new UsageError('give an API key with WEFT_API_KEY (or --api-key)');
  let url: URL;
  try {
    url = new URL(flags.url);
  } catch {
    throw new UsageError(`--url '${flags.url}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url '${flags.url}' must be an http:// or https:// URL`);
  }
  return { baseUrl: flags.url, apiKey: flags.apiKey };
}

/**
 * Turns a handler into a commander action: it gets the context and the command's arguments (its
 * positional arguments, then its options), returns the exit code, and every failure is printed
 * by `reportFailure`. Unexpected errors (bugs) still reach main's handler.
 */
export function serverAction<Args extends unknown[]>(
  io: CommandIo,
  handler: (context: ServerContext, ...args: Args) => Promise<number>,
): (...received: unknown[]) => Promise<void> {
  return async (...received) => {
    const command = received.at(-1) as Command;
    const flags = command.opts<ServerFlags>();
    try {
      const connection = connectionOf(flags);
      const context: ServerContext = {
        ...io,
        client: createClient(connection),
        connection,
        json: flags.json === true,
        printJson: (value) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
        print: (line = '') => io.stdout.write(`${line}\n`),
      };
      io.setExitCode(await handler(context, ...(received.slice(0, -1) as Args)));
    } catch (error) {
      io.setExitCode(reportFailure(error, flags.url, io.stderr));
    }
  };
}

/**
 * Prints why a server command failed and returns its exit code; rethrows what is neither an API
 * error, an unreachable server nor a usage error.
 */
export function reportFailure(error: unknown, url: string, stderr: CommandIo['stderr']): number {
  if (error instanceof UsageError) {
    stderr.write(`weft: ${error.message}\n`);
    return 2;
  }
  if (error instanceof WeftApiError) {
    stderr.write(`${describeApiError(error)}\n`);
    return 1;
  }
  if (isUnreachable(error)) {
    const cause = error.cause as { code?: string; message?: string } | undefined;
    stderr.write(`weft: cannot reach ${url}: ${cause?.code ?? cause?.message ?? 'the connection failed'}\n`);
    return 1;
  }
  throw error;
}

/**
 * Whether a call got no answer at all (refused, reset, DNS): fetch rejects with a TypeError whose
 * cause is the socket's error (ECONNREFUSED, ENOTFOUND, …).
 */
export function isUnreachable(error: unknown): error is TypeError {
  return error instanceof TypeError && error.message === 'fetch failed';
}

/** `weft: <title> (<status> <code>): <detail>`, then each invalid field on its own line. */
function describeApiError(error: WeftApiError): string {
  const problem = error.problem;
  if (!problem) return `weft: ${error.message}`;
  const lines = [`weft: ${problem.title} (${problem.status} ${problem.code}): ${problem.detail}`];
  for (const field of problem.errors ?? []) lines.push(`  at ${field.path || '/'}: ${field.message}`);
  return lines.join('\n');
}

/** Reads all of a stream as text. */
async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a file, or `stdin` for `-`; a file that cannot be read is a usage error naming it. */
export async function readTextArgument(file: string, stdin: NodeJS.ReadableStream): Promise<string> {
  if (file === '-') return readAll(stdin);
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

/** A JSON file argument (`-` for stdin), parsed. */
export async function readJsonFile(file: string, stdin: NodeJS.ReadableStream): Promise<unknown> {
  return parseJson(await readTextArgument(file, stdin), file === '-' ? 'stdin' : file);
}

/** A flag's JSON: inline (`'{"a": 1}'`), or `@file` (`@-` for stdin). */
export async function readJsonFlag(flag: string, value: string, stdin: NodeJS.ReadableStream): Promise<unknown> {
  if (value.startsWith('@')) return parseJson(await readTextArgument(value.slice(1), stdin), `${flag} ${value}`);
  return parseJson(value, flag);
}

/** A positive integer flag (`--limit`, `--version`). */
export function integerFlag(flag: string, value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(number) || number < 1) {
    throw new UsageError(`${flag} must be a whole number of at least 1, got '${value}'`);
  }
  return number;
}

/** `key=value` (or `key:value`) flags as a label map. */
export function labelFlags(flag: string, values: readonly string[] | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const value of values ?? []) {
    const separator = value.search(/[=:]/);
    if (separator < 1) throw new UsageError(`${flag} '${value}' must be key=value`);
    labels[value.slice(0, separator)] = value.slice(separator + 1);
  }
  return labels;
}

/** Collects a repeatable flag's values (no default: help would show `[]`; read it as `?? []`). */
export function repeatable(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Makes commander's own refusals (an unknown option, a missing argument, a value not in the
 * choices) of a command and the subcommands added after it exit 2 like other unusable arguments;
 * help and the version still exit 0. The error is thrown to `runWeft`, which returns its code.
 */
export function usageErrorsExit2(command: Command): Command {
  return command.exitOverride((error) => {
    throw new CommanderError(error.exitCode === 0 ? 0 : 2, error.code, error.message);
  });
}
