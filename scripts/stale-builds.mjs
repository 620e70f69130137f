// The package's two builds and when each is stale, shared by `npm start` (scripts/start.mjs) and
// the test runner (scripts/run-tests.mjs): each rebuilds, before it runs anything, what is older
// than its sources.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

/** The builds: what each is made from, the file every build of it rewrites, and its npm script. */
const BUILDS = [
  {
    name: 'server',
    script: 'build:server',
    sources: [
      'src',
      'tsconfig.json',
      'tsconfig.build.json',
      'package.json',
      'scripts/bundle-server.mjs',
      'scripts/bundle-options.mjs',
    ],
    stamp: 'dist/bundle/weft.cjs',
  },
  { name: 'web UI', script: 'build:web', sources: ['web', 'src/sdk'], stamp: 'dist/web/index.html' },
];

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

/**
 * Rebuilds each build older than its sources, saying so with `prefix`; exits the process when a
 * build fails.
 */
export function rebuildStaleBuilds(prefix) {
  const stale = BUILDS.filter((build) =>
    build.sources.some((source) => newestMtime(path.join(root, source)) > builtAt(build.stamp)),
  );
  for (const build of stale) {
    console.error(`${prefix}the ${build.name} is older than its sources; npm run ${build.script}`);
    const built = spawnSync('npm', ['run', build.script, '--silent'], { cwd: root, stdio: 'inherit' });
    if (built.status !== 0) process.exit(built.status ?? 1);
    // An incremental build that found nothing to emit leaves its stamp as it was; mark it current
    // so the next run does not build again.
    const now = new Date();
    utimesSync(path.join(root, build.stamp), now, now);
  }
}
