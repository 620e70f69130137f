import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The package's own files found at run time, wherever the running code is: `src/` (tsx: tests,
 * `npm run dev`), `dist/` (tsc's output) or the one-file server bundle `dist/bundle/weft.cjs`
 * (`npm start`, the `weft` command). A path written relative to a module's own URL holds in only
 * one of those layouts; these hold in all three.
 */

const here = fileURLToPath(import.meta.url);

/** The package's root folder: the nearest folder up from this code whose package.json is weft's. */
export const PACKAGE_ROOT = findPackageRoot(path.dirname(here));

function findPackageRoot(start: string): string {
  for (let folder = start; ; folder = path.dirname(folder)) {
    const manifest = path.join(folder, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'weft') {
      return folder;
    }
    if (path.dirname(folder) === folder) throw new Error(`no package.json of weft above ${start}`);
  }
}

/** A file of the package, from its root (`packageFile('templates', 'x.json')`). */
export function packageFile(...segments: string[]): string {
  return path.join(PACKAGE_ROOT, ...segments);
}

/**
 * The file URL of a worker thread's module, named from `src/` without extension
 * (`definition/input-validation-worker`): its `.ts` source under tsx, else its compiled `.js` in
 * `dist/` (the bundle does not contain worker modules; they load on their own thread).
 */
export function workerModuleUrl(fromSrc: string): string {
  const compiled = !here.endsWith('.ts');
  const file = compiled ? packageFile('dist', `${fromSrc}.js`) : packageFile('src', `${fromSrc}.ts`);
  return pathToFileURL(file).href;
}
