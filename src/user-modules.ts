/** Where bin/load-bundle.js registers its `import()` (a registry symbol: the loader is plain JavaScript). */
export const IMPORT_HOOK = Symbol.for('weft.importUserModule');

/**
 * Loads a module the user names (a plugin in WEFT_PLUGINS, a worker's handler module) by URL or
 * bare name.
 *
 * Not a plain `import()` when the server bundle runs from V8's code cache (bin/load-bundle.js):
 * on Node 20 a function restored from the cache has lost the callback that `import()` needs and
 * fails with "A dynamic import callback was not specified". The loader, an ordinary ES module,
 * registers its own `import()` under IMPORT_HOOK; the bundle's user imports go through it.
 */
export async function importUserModule(specifier: string): Promise<Record<string, unknown>> {
  const hook = (globalThis as Record<symbol, unknown>)[IMPORT_HOOK] as
    | ((specifier: string) => Promise<Record<string, unknown>>)
    | undefined;
  return hook ? hook(specifier) : ((await import(specifier)) as Record<string, unknown>);
}
