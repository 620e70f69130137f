import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/processes.js';

/**
 * `npm start` serves from dist/ (built by `npm install`) and rebuilds only what is older than its
 * sources (issue 14, item 18). Serial: the start time is what it measures, and the neighbours of a
 * parallel file would be most of it.
 */

interface Started {
  child: ChildProcess;
  output: { text: string };
  /** Milliseconds from the spawn of `npm start` to the first 200 of /healthz. */
  healthyAfterMs: number;
}

async function npmStart(dataDir: string): Promise<Started> {
  const began = performance.now();
  const child = spawn('npm', ['start', '--silent', '--', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
    cwd: ROOT,
    // Its own process group, so the stop below reaches npm's child too.
    detached: true,
  });
  const output = { text: '' };
  child.stderr?.on('data', (chunk) => {
    output.text += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not serve within 60 s:\n${output.text}`)), 60_000);
    child.stdout?.on('data', (chunk) => {
      output.text += chunk;
      const match = /weft is serving on (http:\/\/\S+) /.exec(output.text);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${output.text}`));
    });
  });
  for (;;) {
    const answer = await fetch(`${url}/healthz`).catch(() => undefined);
    if (answer?.status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { child, output, healthyAfterMs: performance.now() - began };
}

async function stop(started: Started): Promise<void> {
  const exited = new Promise((resolve) => started.child.once('exit', resolve));
  process.kill(-(started.child.pid ?? 0), 'SIGTERM');
  await exited;
}

/** The server's build, rewritten by every `npm run build:server`. */
const BUILD_STAMP = path.join(ROOT, 'dist', 'bundle', 'weft.cjs');

describe('npm start', () => {
  it('serves from the build without rebuilding, healthy within 2 s', async (t) => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'weft-start-'));
    try {
      // The first start may find sources edited since the build (a working tree); the second is
      // the start a user makes every day.
      await stop(await npmStart(path.join(folder, 'first')));
      const stamp = statSync(BUILD_STAMP).mtimeMs;
      const timings: number[] = [];
      for (const name of ['second', 'third']) {
        const started = await npmStart(path.join(folder, name));
        await stop(started);
        assert.doesNotMatch(started.output.text, /older than its sources/);
        timings.push(started.healthyAfterMs);
      }
      assert.equal(statSync(BUILD_STAMP).mtimeMs, stamp, 'nothing was rebuilt');
      // The better of two starts: one start may lose the CPU to a neighbour for a moment. The issue
      // asks for 2 s; from the one-file bundle this machine measures about 1.2 s, npm's own start
      // (0.35 s) included (docs/status.md, issue 14).
      const best = Math.min(...timings);
      t.diagnostic(`npm start healthy after ${timings.map(Math.round).join(' and ')} ms`);
      assert.ok(best < 2000, `healthy after ${timings.map(Math.round).join(' and ')} ms`);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('rebuilds the server first when its build is older than its sources', async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'weft-start-'));
    try {
      const past = new Date('2020-01-01T00:00:00Z');
      utimesSync(BUILD_STAMP, past, past);
      const started = await npmStart(path.join(folder, 'data'));
      await stop(started);
      assert.match(started.output.text, /the server is older than its sources; npm run build:server/);
      assert.ok(statSync(BUILD_STAMP).mtimeMs > past.getTime(), 'the build is marked current again');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
