import { WeftError } from '../errors.js';
import { runWeft } from './program.js';
export function main(): void {
  runWeft(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    setExitCode: (code) => {
      process.exitCode = code;
    },
  })
    .then((exitCode) => {
      if (exitCode !== 0) process.exitCode = exitCode;
    })
    .catch((error) => {
      const message = error instanceof WeftError ? `${error.code}: ${error.message}` : (error as Error).stack;
      process.stderr.write(`weft: ${message}\n`);
      process.exit(1);
    });
}
