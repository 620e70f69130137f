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
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const outfile = path.join(root, 'dist', 'bundle', 'weft.js');

const EXTERNAL = ['better-sqlite3', 'pg', 'pg-native', 'piscina', 'thread-stream', 'bufferutil', 'utf-8-validate'];

/** Bundled packages that read their own files from `__dirname` (swagger-ui serves its static folder). */
const PACKAGE_DIR_USERS = ['@fastify/swagger-ui', '@fastify/swagger'];

/**
 * Files that name `__dirname` or `__filename` only where the bundle never runs it (a transport
 * worker pino starts only for `transport` options, which Weft does not use; commander's
 * `executableDir` for subcommands in separate files, which Weft does not have).
 */
const NEVER_RUN_DIRNAME = ['node_modules/pino/lib/transport.js', 'node_modules/commander/lib/command.js'];

const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

/** The package a file in node_modules belongs to, and the file's folder inside that package. */
function packageOf(file) {
  const inside = file.slice(file.lastIndexOf(NODE_MODULES) + NODE_MODULES.length).split(path.sep);
  const length = inside[0].startsWith('@') ? 2 : 1;
  return { name: inside.slice(0, length).join('/'), folder: inside.slice(length, -1).join('/') };
}

/** Gives each PACKAGE_DIR_USERS file its real folder as `__dirname`; refuses other users of it. */
const dirnamePlugin = {
  name: 'weft-dirname',
  setup(build) {
    build.onLoad({ filter: /node_modules.*\.[cm]?js$/ }, (args) => {
      const contents = readFileSync(args.path, 'utf8');
      if (!/\b__(dirname|filename)\b/.test(contents)) return undefined;
      const { name, folder } = packageOf(args.path);
      if (PACKAGE_DIR_USERS.includes(name)) {
        const prelude = `var __dirname = __weftPackageFolder(${JSON.stringify(name)}, ${JSON.stringify(folder)});`;
        return { contents: `${prelude}\n${contents}`, loader: 'js' };
      }
      const relative = path.relative(root, args.path).split(path.sep).join('/');
      if (NEVER_RUN_DIRNAME.includes(relative)) return undefined;
      return {
        errors: [
          {
            text: `${relative} uses __dirname or __filename, which the bundle cannot give it: add its package to EXTERNAL or PACKAGE_DIR_USERS in scripts/bundle-server.mjs`,
          },
        ],
      };
    });
  },
};

// ES modules have no `require`; the CommonJS packages bundled here need it for Node's own modules.
const banner = `import { createRequire as __weftCreateRequire } from 'node:module';
import { dirname as __weftDirname, join as __weftJoin } from 'node:path';
const require = __weftCreateRequire(import.meta.url);
function __weftPackageFolder(name, folder) {
  return __weftJoin(__weftDirname(require.resolve(name + '/package.json')), folder);
}`;

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
