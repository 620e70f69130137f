// What every esbuild bundle of Weft's code needs, whoever builds it: the server bundle
// (scripts/bundle-server.mjs) and the test run's bundles (scripts/compile-tests.mjs). Node's own
// modules stay imports; native and file-reading packages stay in node_modules; a bundled package
// that finds its files through `__dirname` gets its real folder, and any other such package fails
// the build rather than break at run time.
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

/** Packages loaded from node_modules at run time rather than bundled (see scripts/bundle-server.mjs). */
export const EXTERNAL = [
  'better-sqlite3',
  'pg',
  'pg-native',
  'piscina',
  'thread-stream',
  'bufferutil',
  'utf-8-validate',
];

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
export const dirnamePlugin = {
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
            text: `${relative} uses __dirname or __filename, which the bundle cannot give it: add its package to EXTERNAL or PACKAGE_DIR_USERS in scripts/bundle-options.mjs`,
          },
        ],
      };
    });
  },
};

// ES modules have no `require`; the CommonJS packages bundled here need it for Node's own modules.
export const banner = `import { createRequire as __weftCreateRequire } from 'node:module';
import { dirname as __weftDirname, join as __weftJoin } from 'node:path';
const require = __weftCreateRequire(import.meta.url);
function __weftPackageFolder(name, folder) {
  return __weftJoin(__weftDirname(require.resolve(name + '/package.json')), folder);
}`;

/** The banner of the CommonJS server bundle: what the sources' `import.meta.url` becomes. */
export const scriptBanner = `var __weftBundleUrl = require('node:url').pathToFileURL(__filename).href;
function __weftPackageFolder(name, folder) {
  const path = require('node:path');
  return path.join(path.dirname(require.resolve(name + '/package.json')), folder);
}`;
