#!/usr/bin/env node
// Bundles the `weft` command (src/cli/main.ts and everything it imports, dependencies included)
// into one CommonJS script, dist/bundle/weft.cjs, which bin/load-bundle.js runs for `npm start`,
// `bin/weft.js` and the tests' child processes. Loading ~1,600 small modules (typebox and kysely
// alone are ~650) cost about 0.6 s of every start; one file parses in a fraction of that, and a
// script (unlike an ES module on Node 20) can start from V8's code cache of an earlier start
// (docs/architecture.md, "The server bundle").
// tsc's dist/ stays whole beside it: it is the package's API (`import … from 'weft'`) and holds
// the worker-thread modules, which load on their own threads.
//
// Left out of the bundle, loaded from node_modules as before: native and optional modules
// (better-sqlite3, pg, ws's optional accelerators) and piscina, whose worker threads load a file
// of its own package. A bundled package that finds its files from `__dirname` gets that folder
// back (see PACKAGE_DIR_USERS); any other bundled file naming `__dirname` fails this build, so a
// new dependency cannot break the bundle silently.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { dirnamePlugin, EXTERNAL, scriptBanner } from './bundle-options.mjs';

const root = path.resolve(import.meta.dirname, '..');
const outdir = path.join(root, 'dist', 'bundle');
const outfile = path.join(outdir, 'weft.cjs');

mkdirSync(outdir, { recursive: true });
// Code caches and the ES module bundle of earlier builds: a cache names its bundle by size and
// time, but V8 itself checks little more than the source's length.
for (const name of readdirSync(outdir)) {
  if (name.endsWith('.cache') || name.startsWith('weft.js')) rmSync(path.join(outdir, name), { force: true });
}
await esbuild.build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: EXTERNAL,
  plugins: [dirnamePlugin],
  banner: { js: scriptBanner },
  // The sources' `import.meta.url` (src/package-files.ts, the createRequire calls) is the bundle's URL.
  define: { 'import.meta.url': '__weftBundleUrl' },
  // Whitespace and syntax only: names stay, so stack traces and logs read as in the sources.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});
