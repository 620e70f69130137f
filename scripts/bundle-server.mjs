#!/usr/bin/env node
// Bundles the `weft` command (src/cli/main.ts and everything it imports, dependencies included)
// into one file, dist/bundle/weft.js, run by `npm start`, `bin/weft.js` and the tests' child
// processes. Loading ~1,600 small modules (typebox and kysely alone are ~650) cost about 0.6 s of
// every start; one file parses in a fraction of that (docs/architecture.md, "The server bundle").
// tsc's dist/ stays whole beside it: it is the package's API (`import … from 'weft'`) and holds
// the worker-thread modules, which load on their own threads.
//
// Left out of the bundle, loaded from node_modules as before: native and optional modules
// (better-sqlite3, pg, ws's optional accelerators) and piscina, whose worker threads load a file
// of its own package. A bundled package that finds its files from `__dirname` gets that folder
// back (see PACKAGE_DIR_USERS); any other bundled file naming `__dirname` fails this build, so a
// new dependency cannot break the bundle silently.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { banner, dirnamePlugin, EXTERNAL } from './bundle-options.mjs';

const root = path.resolve(import.meta.dirname, '..');
const outfile = path.join(root, 'dist', 'bundle', 'weft.js');

mkdirSync(path.dirname(outfile), { recursive: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: EXTERNAL,
  plugins: [dirnamePlugin],
  banner: { js: banner },
  // Whitespace and syntax only: names stay, so stack traces and logs read as in the sources.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});
