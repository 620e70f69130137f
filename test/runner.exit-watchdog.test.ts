import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { ROOT } from './helpers/processes.js';

/**
 * The test runner never hangs (scripts/run-tests.mjs with scripts/test-exit-watchdog.mjs): a file
 * still alive after its last test fails and names what is open, a file too blocked to say so is
 * killed, and the run ends by its deadline with the files still running named. Runs the runner
 * itself over test/fixtures/exit-watchdog with short limits.
 */

const root = ROOT;
const fixtures = path.join(root, 'test', 'fixtures', 'exit-watchdog');
const GRACE_SECONDS = 1;
// The blocked file is killed about 3 s after its last test; the deadline leaves room for the
// fixtures' own start-up on a loaded machine (four test files share two cores), which took 7 s once.
const DEADLINE_SECONDS = 20;

function runFixtures(): Promise<{ code: number | null; output: string; seconds: number }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WEFT_TEST_DIR: fixtures,
    WEFT_TEST_EXIT_TIMEOUT_SECONDS: String(GRACE_SECONDS),
    WEFT_TEST_DEADLINE_SECONDS: String(DEADLINE_SECONDS),
  };
  // This file runs as a child of Node's test runner; the runner under test must not think so too.
  delete env.NODE_TEST_CONTEXT;
  delete env.WEFT_TEST_WATCHDOG_DIR;
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(root, 'scripts', 'run-tests.mjs')], { cwd: root, env });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  return new Promise((resolve) => {
    child.on('close', (code) => resolve({ code, output, seconds: (Date.now() - started) / 1000 }));
  });
}

it('fails and names a file that leaks, kills one that blocks, and ends the run at its deadline', async () => {
  const { code, output, seconds } = await runFixtures();
  assert.equal(code, 1, output);
  assert.ok(seconds < DEADLINE_SECONDS + 12, `the run took ${seconds} s`);

  // A file that leaks a server and an interval: failed by its own watchdog, which names both.
  assert.match(output, /leaks-a-server-and-a-timer\.test\.ts has not exited 1 s after its last test; still open:/);
  assert.match(output, /server listening on 127\.0\.0\.1:\d+/);
  assert.match(output, /setInterval\(60000 ms\) created at .*leaks-a-server-and-a-timer\.test\.ts:\d+/);
  assert.match(output, /1 more timer\(s\) made through node:timers or timers\/promises/);
  // A file whose event loop is blocked after its tests: killed by the runner and named.
  const blocked = output.match(
    /blocks-after-its-tests\.test\.ts: did not exit \d+ s after its last test.*killing its process (\d+)/,
  );
  assert.ok(blocked, output);
  // A test that never ends: the file is killed at the deadline and Node's summary still prints.
  assert.match(
    output,
    new RegExp(
      `never-ends\\.test\\.ts: still running at the deadline of ${DEADLINE_SECONDS} s; killing its process \\d+`,
    ),
  );
  assert.match(output, /Test files that did not exit by themselves:/);

  const files = readdirSync(fixtures).filter((name) => name.endsWith('.test.ts'));
  const failing = ['leaks-a-server-and-a-timer', 'blocks-after-its-tests', 'never-ends'];
  assert.match(output, new RegExp(`ℹ fail ${failing.length}\\b`));
  for (const name of files.filter((file) => !failing.some((prefix) => file.startsWith(prefix)))) {
    assert.doesNotMatch(output, new RegExp(`✖ [^\\n]*${name.replace('.', '\\.')}`), `${name} exits by itself`);
  }
  assert.throws(() => process.kill(Number(blocked[1]), 0), 'the blocked process is gone');
});
