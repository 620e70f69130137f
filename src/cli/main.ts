#!/usr/bin/env node
import { WeftError } from '../errors.js';
import { runWeft } from './program.js';

// The `weft` command: the program (./program.ts) on this process's streams. No top-level await:
// the server bundle (scripts/bundle-server.mjs) is a CommonJS script, which cannot have one.
runWeft(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  setExitCode: (code) => {
    process.exitCode = code;
  },
}).then(
  (exitCode) => {
    if (exitCode !== 0) process.exitCode = exitCode;
  },
  (error: unknown) => {
    // A failure no command reports itself (a bug, a broken configuration): its stack, and out.
    const message = error instanceof WeftError ? `${error.code}: ${error.message}` : (error as Error).stack;
    process.stderr.write(`weft: ${message}\n`);
    process.exit(1);
  },
);
