#!/usr/bin/env node
// `npm run lint`: the two type checks (the package with its tests, the web UI) and Biome, at the
// same time. Each is one process and mostly one thread, so on two cores the three together take
// about as long as the longest (the package's type check) rather than their sum. Each one's output
// is printed whole once it ends, under its name; the exit code is 1 when any failed.
import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

const CHECKS = [
  { name: 'types (package and tests)', command: bin('tsc'), args: ['-p', 'tsconfig.json', '--noEmit'] },
  { name: 'types (web UI)', command: bin('tsc'), args: ['-p', 'web/tsconfig.json', '--noEmit'] },
  { name: 'biome', command: bin('biome'), args: ['check', '.'] },
];

/** Runs one check; resolves with its exit code and everything it printed. */
function run({ command, args }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: process.stdout.isTTY ? '1' : '0' },
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', (error) => resolve({ code: 1, output: `${output}${error.message}\n` }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

const started = Date.now();
const results = await Promise.all(
  CHECKS.map(async (check) => {
    const result = await run(check);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`${result.code === 0 ? '✔' : '✖'} ${check.name} (${seconds} s)\n${result.output}`);
    return result;
  }),
);
process.exit(results.some((result) => result.code !== 0) ? 1 : 0);
