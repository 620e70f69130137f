import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from './helpers/http-fixtures.js';
import { ROOT, runCli } from './helpers/processes.js';

/**
 * The `weft` command starts from V8's code cache of an earlier start (bin/load-bundle.js,
 * docs/architecture.md "The server bundle"). Run from a copy of the package, so that the caches
 * the other test files' children write meanwhile are not what this sees.
 */

const BUNDLE_NAME = 'weft.cjs';

describe('the code cache of the weft command', () => {
  let copy: string;
  let bundleDir: string;
  let dataDir: string;
  before(() => {
    copy = mkdtempSync(path.join(os.tmpdir(), 'weft-code-cache-'));
    cpSync(path.join(ROOT, 'bin'), path.join(copy, 'bin'), { recursive: true });
    copyFileSync(path.join(ROOT, 'package.json'), path.join(copy, 'package.json'));
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
    // dist/ as it is, but a bundle folder of the copy's own.
    mkdirSync(path.join(copy, 'dist'));
    for (const entry of readdirSync(path.join(ROOT, 'dist'))) {
      if (entry !== 'bundle') symlinkSync(path.join(ROOT, 'dist', entry), path.join(copy, 'dist', entry));
    }
    bundleDir = path.join(copy, 'dist', 'bundle');
    mkdirSync(bundleDir);
    copyFileSync(path.join(ROOT, 'dist', 'bundle', BUNDLE_NAME), path.join(bundleDir, BUNDLE_NAME));
    dataDir = path.join(copy, 'data');
  });
  after(() => {
    rmSync(copy, { recursive: true, force: true });
  });

  const caches = () => readdirSync(bundleDir).filter((name) => name.endsWith('.cache'));

  /** Runs `weft serve` from the copy until `until()` holds, then stops it. */
  async function serveUntil(until: () => boolean, what: string): Promise<void> {
    const child: ChildProcess = spawn(process.execPath, [path.join(copy, 'bin', 'weft.js'), 'serve'], {
      env: { ...process.env, WEFT_PORT: '0', WEFT_HOST: '127.0.0.1', WEFT_DATA_DIR: dataDir, WEFT_LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitUntil(until, what, 20_000);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }

  it('writes a cache after a start, starts from it (plugins included), and leaves it for a new build', async () => {
    assert.deepEqual(caches(), [], 'a new build has no cache');
    await serveUntil(() => caches().length === 1, 'the cache of the first start');
    const [written] = caches();
    const { size, mtimeMs } = statSync(path.join(bundleDir, BUNDLE_NAME));
    assert.equal(written, `${BUNDLE_NAME}.${size}-${Math.trunc(mtimeMs)}.cache`);
    const writtenAt = statSync(path.join(bundleDir, written as string)).mtimeMs;

    // A start from the cache: a refused cache would be written again 1.5 s into the start.
    let servedFor = false;
    setTimeout(() => {
      servedFor = true;
    }, 2500);
    await serveUntil(() => servedFor, 'a start of 2.5 s');
    assert.deepEqual(caches(), [written]);
    assert.equal(
      statSync(path.join(bundleDir, written as string)).mtimeMs,
      writtenAt,
      'the cache was used, not rewritten',
    );

    // Functions restored from the cache cannot run import() themselves; a plugin still loads.
    const definition = path.join(copy, 'image.json');
    writeFileSync(
      definition,
      JSON.stringify({ name: 'image', steps: [{ id: 'g', type: 'image.generate', input: { prompt: 'owl' } }] }),
    );
    const validated = await runCli(['validate', definition], {
      command: [path.join(copy, 'bin', 'weft.js')],
      env: { WEFT_PLUGINS: path.join(ROOT, 'test/fixtures/image-plugin.mjs') },
    });
    assert.equal(validated.code, 0, validated.stderr);
    assert.match(validated.stdout, /valid \(1 steps in 1 layers\)/);

    // A new build (another modification time) never runs on the old build's cache.
    const later = new Date(mtimeMs + 60_000);
    utimesSync(path.join(bundleDir, BUNDLE_NAME), later, later);
    await serveUntil(() => caches().length === 2, "the new build's cache");
    assert.ok(existsSync(path.join(bundleDir, written as string)));
  });
});
