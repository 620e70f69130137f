import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from '../src/sdk/index.js';
import { createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution, waitUntil } from './helpers/http-fixtures.js';
import { ROOT, weftCli } from './helpers/processes.js';

/**
 * `weft worker <module>` as a child process against an in-process server. The command only
 * speaks HTTP, so one backend is enough here; test/workers.processes.test.ts runs worker
 * processes against `weft serve` on every backend.
 */

const MODULE = path.join(ROOT, 'test/fixtures/sdk-worker.mjs');

interface Finished {
  code: number | string | null;
  stdout: string;
  stderr: string;
}

/** Spawns `weft worker` with `args`; `finished` resolves at exit. */
function spawnWorker(args: string[], env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(process.execPath, [...weftCli(), 'worker', ...args], {
    cwd: ROOT,
    env: { ...process.env, WEFT_LOG_LEVEL: 'warn', ...env },
  });
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk) => {
    output.stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output.stderr += chunk;
  });
  const finished = new Promise<Finished>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code: code ?? signal, ...output })),
  );
  return { child, output, finished };
}

describe('weft worker', () => {
  const backend = testBackends()[0] ?? 'sqlite';
  let server: TestServer;
  let key: string;
  before(async () => {
    server = await startTestServer(backend);
    key = await createKey(server, 'worker');
  });
  after(() => server.close());

  it('exits 2 with a clear message for a module without handlers', async () => {
    const file = path.join(server.config.dataDir, 'no-handlers.mjs');
    writeFileSync(file, 'export const something = 1;\n');
    const result = await spawnWorker([file, '--url', server.url], { WEFT_API_KEY: key }).finished;
    assert.equal(result.code, 2);
    assert.match(result.stderr, /exports no handlers: export `handlers` \(or a default export\)/);
  });

  it('polls with the handlers of a module, prints its startup line, and releases its tasks on SIGTERM', async () => {
    const worker = spawnWorker(
      [MODULE, '--url', server.url, '--worker-id', 'cli-1', '--grace-seconds', '0.1', '--wait-seconds', '1'],
      {
        WEFT_API_KEY: key,
      },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no startup line:\n${worker.output.stderr}`)), 30_000);
        worker.child.stdout?.on('data', () => {
          const match = /^weft worker .*$/m.exec(worker.output.stdout);
          if (match) {
            clearTimeout(timer);
            resolve(match[0]);
          }
        });
        void worker.finished.then((result) => {
          clearTimeout(timer);
          reject(new Error(`weft worker exited with ${result.code}:\n${result.stderr}`));
        });
      });
      assert.equal(line, `weft worker cli-1 is polling ${server.url} for sdk.echo, sdk.hold`);

      const echo = await runAdhoc(server, { name: 'echo', steps: [{ id: 'echo', type: 'sdk.echo', input: { a: 1 } }] });
      const echoed = await waitForExecution(server, echo, ['completed', 'failed'], 20_000);
      assert.deepEqual(stepOf(echoed, 'echo').output, { echoed: { a: 1 }, workflow: null });

      const hold = await runAdhoc(server, {
        name: 'hold',
        steps: [{ id: 'hold', type: 'sdk.hold', retry: { max_attempts: 1 } }],
      });
      await waitUntil(
        async () => stepOf(await waitForExecution(server, hold, ['running']), 'hold').status === 'running',
        'the held step to start',
      );
      worker.child.kill('SIGTERM');
      const result = await worker.finished;
      assert.equal(result.code, 0, result.stderr);

      const client = createClient({ baseUrl: server.url, apiKey: key });
      const [task] = await client.tasks.poll({ worker_id: 'after-cli', types: ['sdk.hold'], wait_seconds: 5 });
      assert.equal(task?.execution_id, hold, 'the task was released to the queue');
      await client.tasks.complete(task.id, 'done');
      assert.equal(stepOf(await waitForExecution(server, hold, ['completed']), 'hold').output, 'done');
    } finally {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
      await worker.finished;
    }
  });
});
