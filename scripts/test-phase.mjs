// One phase of the test suite, started by scripts/run-tests.mjs with the loaders every test file
// needs (tsx, the exit watchdog), which Node's runner passes on to the files' processes. The files
// start in the order given (`node --test` would sort them by name, so a long file near the end of
// the alphabet would start last and hold the whole run up): usage
// `test-phase.mjs <concurrency> <file>...`. Prints the spec report; exits 1 when a test failed.
import { setMaxListeners } from 'node:events';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { withSourcePositions } from './test-source-positions.mjs';

const [concurrency, ...files] = process.argv.slice(2);
// Interrupted, the files' processes are ended with the run (as `node --test` does).
const abort = new AbortController();
// Each file's process listens to it.
setMaxListeners(files.length + 10, abort.signal);
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => abort.abort());
const stream = run({ files, concurrency: Number(concurrency), signal: abort.signal });
stream.on('test:fail', (event) => {
  // A failing `todo` test does not fail the run, as with `node --test`.
  if (event.todo === undefined || event.todo === false) process.exitCode = 1;
});
// Bundled files run without source maps; the report names the TypeScript lines all the same.
stream.compose(withSourcePositions).compose(spec).pipe(process.stdout);
