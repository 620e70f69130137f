// Runs the server bundle (dist/bundle/weft.cjs, scripts/bundle-server.mjs) from V8's code cache
// when an earlier start left one. Parsing and compiling the 4.5 MB bundle was about a fifth of a
// `weft serve` start's CPU (0.15 s of 0.75 s here), and the bundle is started again and again: by
// `npm start`, by every `weft` command, by every process of a crash loop or a test suite. Node 20
// keeps no compile cache of its own (`module.enableCompileCache` came with Node 22), and V8
// caches only scripts, not ES modules, hence a CommonJS bundle run through `vm.Script`.
//
// The cache is written beside the bundle, named after the bundle's size and modification time
// (V8 checks little more than the source's length before it trusts a cache), 1.5 s after a start
// that found none or had it refused (another Node version or V8 flags): by then the functions a
// start compiles are in it. A read-only installation simply starts without one. With source maps
// on, the bundle loads as a plain CommonJS module, without the cache (see runBundle).
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

/** The bundle; tsc's `dist/` and the built UI are beside it, found from the package root. */
export const BUNDLE = path.resolve(import.meta.dirname, '..', 'dist', 'bundle', 'weft.cjs');

/** When after a start without a usable cache the cache is written. */
const CACHE_WRITE_DELAY_MS = 1500;

/** The code cache file of the bundle as it is now. */
function cacheFile() {
  const { size, mtimeMs } = statSync(BUNDLE);
  return `${BUNDLE}.${size}-${Math.trunc(mtimeMs)}.cache`;
}

function readCache(file) {
  try {
    return readFileSync(file);
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
}

function writeCacheLater(script, file) {
  const timer = setTimeout(() => {
    const partial = `${file}.${process.pid}`;
    try {
      writeFileSync(partial, script.createCachedData());
      // Atomic: processes that start meanwhile read a whole cache or none.
      renameSync(partial, file);
    } catch {
      // The folder may not be writable (a read-only installation): the cache only saves time, and
      // without it every start compiles as it would have.
    }
  }, CACHE_WRITE_DELAY_MS);
  // Never what keeps a short command (`weft validate`) alive.
  timer.unref();
}

/**
 * Runs the bundle: the `weft` command on this process's arguments and streams. With source maps
 * on (`npm start`, `--enable-source-maps`), Node's own loader runs it instead: on Node 20 only
 * that loader reads a script's source map, so stack traces name the `src/` lines.
 */
export function runBundle() {
  if (process.sourceMapsEnabled) {
    createRequire(import.meta.url)(BUNDLE);
    return;
  }
  const file = cacheFile();
  const cachedData = readCache(file);
  const source = readFileSync(BUNDLE, 'utf8');
  // One line, as Node wraps a CommonJS module: the bundle's lines stay those of its source map.
  // The entry's `#!` line becomes a comment (only a script's very start may hold one).
  const body = source.startsWith('#!') ? `//${source.slice(2)}` : source;
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${body}\n})`;
  const script = new vm.Script(wrapped, { filename: BUNDLE, cachedData });
  // A function restored from the cache cannot run `import()` on Node 20 ("A dynamic import
  // callback was not specified"): the modules a user names (plugins, worker handlers) are
  // imported here, in a module (src/user-modules.ts).
  globalThis[Symbol.for('weft.importUserModule')] = (specifier) => import(specifier);
  if (cachedData === undefined || script.cachedDataRejected) writeCacheLater(script, file);
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, path.dirname(BUNDLE));
}
