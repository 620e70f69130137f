import { Readable, Writable } from 'node:stream';
import { runWeft } from '../../src/cli/program.js';
import type { FinishedCli } from './processes.js';

/**
 * `weft <args>` run in the test's own process (runWeft, the program bin/weft.js runs), with
 * captured output: the same commands, parsing and printing as a child process, without a Node.js
 * start for each command. Tests of what only a process shows (variables, exit of the process
 * itself) keep spawning it (./processes.ts).
 */

/** A stream that appends what is written to `output[name]` (not a terminal, as a child's pipe). */
function capture(output: { stdout: string; stderr: string }, name: 'stdout' | 'stderr'): NodeJS.WriteStream {
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      output[name] += String(chunk);
      callback();
    },
  });
  return stream as unknown as NodeJS.WriteStream;
}

/** Runs `weft <args>` in this process to its end; `stdin` is what a `-` argument reads. */
export async function runWeftHere(args: readonly string[], stdin = ''): Promise<FinishedCli> {
  const output = { stdout: '', stderr: '' };
  const code = await runWeft(args, {
    stdout: capture(output, 'stdout'),
    stderr: capture(output, 'stderr'),
    stdin: Readable.from([stdin]),
    setExitCode: () => undefined,
  });
  return { code, ...output };
}
