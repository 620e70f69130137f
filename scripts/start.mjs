#!/usr/bin/env node
// `npm start`: serves from dist/, which `npm install` builds (the `prepare` script). Compiling
// TypeScript on every start cost about 10 s; now a start rebuilds only what is older than its
// sources (the server when src/ changed, the web UI when web/ changed), and runs the one-file
// server bundle (scripts/bundle-server.mjs), so an unchanged checkout is serving within about a
// second. Arguments after `npm start --` go to `weft serve`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '..');

/** The newest modification time under a file or folder, 0 when it does not exist. */
function newestMtime(target) {
  const stat = statSync(target, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(target).reduce((newest, name) => Math.max(newest, newestMtime(path.join(target, name))), 0);
}

/** The modification time of a built file, 0 when it was never built. */
function builtAt(file) {
  return statSync(path.join(root, file), { throwIfNoEntry: false })?.mtimeMs ?? 0;
}

const stale = [
  {
    name: 'server',
    script: 'build:server',
    sources: ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'scripts/bundle-server.mjs'],
    stamp: 'dist/bundle/weft.js',
  },
  {
    name: 'web UI',
    script: 'build:web',
    sources: ['web', 'src/sdk'],
    stamp: 'dist/web/index.html',
  },
].filter((part) => part.sources.some((source) => newestMtime(path.join(root, source)) > builtAt(part.stamp)));

for (const part of stale) {
  console.error(`weft: the ${part.name} is older than its sources; npm run ${part.script}`);
  const built = spawnSync('npm', ['run', part.script, '--silent'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
  // An incremental build that found nothing to emit leaves its stamp as it was; mark it current
  // so the next start does not build again.
  const now = new Date();
  utimesSync(path.join(root, part.stamp), now, now);
}

// The server runs in this process: a second Node.js would add its start to every `npm start`.
process.setSourceMapsEnabled(true);
process.argv.splice(2, 0, 'serve');
await import(pathToFileURL(path.join(root, 'dist', 'bundle', 'weft.js')).href);
