// Bundles the test files once per test run, so that every test file's process loads plain
// JavaScript in a few files, with no loader hooks. Under tsx each file's process spent about 2.8 s
// of CPU loading its modules (every import goes through tsx's resolve and load hooks, on a thread
// of their own, and typebox and kysely alone are ~650 files) against about 0.6 s for the same code
// bundled; over a hundred files on two cores that was two minutes of the suite's wall time
// (docs/architecture.md, "The test runner").
//
// One esbuild build takes every test file as an entry point and splits the code they share
// into chunks, with the server bundle's settings (scripts/bundle-options.mjs: native and
// file-reading packages stay in node_modules). Output: `<root>/.test-build/run-<pid>/`, where
// `test/x.test.ts` becomes `test/x.test.js`; from there `node_modules` and the package's own
// files are found by walking up, as from the sources. Each run has its own folder, removed when
// the run ends, so two runs in one checkout do not overwrite each other's files; the folders of
// runs that died are removed by the next. Worker threads load their modules from `dist/`
// (src/package-files.ts), which the runner rebuilds first when it is stale.
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { banner, dirnamePlugin, EXTERNAL } from './bundle-options.mjs';
import { isAlive } from './process-alive.mjs';

/** Removes the build folders of runs whose process is gone. */
function removeDeadRuns(buildRoot) {
  for (const name of readdirSync(buildRoot)) {
    const pid = Number(name.replace(/^run-/, ''));
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) {
      rmSync(path.join(buildRoot, name), { recursive: true, force: true });
    }
  }
}

/**
 * Left to node_modules in the test bundles as well: test-only packages that read their own files
 * at run time (rule sets, templates) or drive a browser, and `@mozilla/readability`, a CommonJS
 * module that the sources import dynamically: split into a chunk of its own, esbuild gives that
 * import only a `default` export, where Node (and the server's one-file bundle) give its named ones.
 */
const TEST_EXTERNAL = ['playwright-core', '@redocly/openapi-core', 'openapi-typescript', '@mozilla/readability'];

/**
 * Bundles `testFiles` (absolute paths). Returns the run's folder, a function mapping a test
 * file's source path to its bundle, and `remove()` for the end of the run.
 */
export async function compileTests(root, testFiles) {
  const buildRoot = path.join(root, '.test-build');
  try {
    removeDeadRuns(buildRoot);
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  const outdir = path.join(buildRoot, `run-${process.pid}`);
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: testFiles,
    outdir,
    outbase: root,
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: [...EXTERNAL, ...TEST_EXTERNAL],
    plugins: [dirnamePlugin],
    banner: { js: banner },
    tsconfig: path.join(root, 'tsconfig.json'),
    // Failing tests are reported at their TypeScript lines: the runner maps the positions it
    // reports through these (scripts/test-source-positions.mjs); the maps point at the sources on
    // disk rather than carry them.
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
  });
  return {
    outdir,
    compiled: (file) => path.join(outdir, path.relative(root, file)).replace(/\.ts$/, '.js'),
    remove: () => rmSync(outdir, { recursive: true, force: true }),
  };
}
