import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { type ApiResponse, sendRequest } from './helpers/api-server.js';
import { createTestDatabase, type TestDatabase, testBackends } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';
import { ROOT, startServes, weftCli } from './helpers/processes.js';

/**
 * External workers as users run them: `weft serve` and `weft worker <module>` as separate
 * processes (test/fixtures/image-worker.mjs serves image types), on SQLite and PostgreSQL.
 */

const ADMIN_KEY = 'workers-test-admin-key-0123456789';
const WORKER_MODULE = path.join(ROOT, 'test/fixtures/image-worker.mjs');

interface WorkerProcess {
  child: ChildProcess;
  output: { text: string };
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
}

/** Starts `weft worker` on the fixture module and waits for its startup line. */
async function startWorker(url: string, apiKey: string, env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [...weftCli(), 'worker', WORKER_MODULE, '--url', url], {
    cwd: ROOT,
    env: { ...process.env, WEFT_API_KEY: apiKey, ...env },
  });
  const output = { text: '' };
  child.stderr?.on('data', (chunk) => {
    output.text += chunk;
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`weft worker did not start:\n${output.text}`)), 30_000);
    child.stdout?.on('data', (chunk) => {
      output.text += chunk;
      if (/weft worker \S+ is polling/.test(output.text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`weft worker exited with ${code}:\n${output.text}`));
    });
  });
  return {
    child,
    output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

interface LoggedEvent {
  event: string;
  pid: number;
  task: string;
  execution: string;
  step: string;
  attempt: number;
}

function readLog(file: string): LoggedEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as LoggedEvent);
}

async function waitForStatus(url: string, id: string, statuses: string[], timeoutMs = 30_000) {
  let last: ApiResponse | undefined;
  await waitUntil(
    async () => {
      last = await sendRequest(url, 'GET', `/executions/${id}`, { key: ADMIN_KEY });
      return statuses.includes(last.body.status);
    },
    `execution ${id} to be ${statuses.join('/')}`,
    timeoutMs,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last: ${last?.text.slice(0, 1500)}`);
  });
  return last?.body;
}

/** A `weft serve` with a worker key and a log file for the fixture worker. */
async function setUp(backend: 'sqlite' | 'postgres', extraServers = 0) {
  const database: TestDatabase = await createTestDatabase(backend, { migrated: true });
  const env = {
    WEFT_DATABASE_URL: database.config.databaseUrl,
    WEFT_DATA_DIR: database.config.dataDir,
    WEFT_ADMIN_KEY: ADMIN_KEY,
    WEFT_POLL_INTERVAL_MS: '200',
    WEFT_LOG_LEVEL: 'warn',
  };
  const servers = await startServes(
    database,
    Array.from({ length: 1 + extraServers }, () => env),
  );
  const url = servers[0]?.url ?? '';
  const key = await sendRequest(url, 'POST', '/api-keys', {
    key: ADMIN_KEY,
    body: { name: 'image workers', role: 'worker' },
  });
  assert.equal(key.status, 201, key.text);
  const workers: WorkerProcess[] = [];
  const log = path.join(database.config.dataDir, 'worker-events.jsonl');
  return {
    url,
    servers,
    workerKey: key.body.key as string,
    log,
    async worker(env: Record<string, string> = {}, at = url) {
      const started = await startWorker(at, key.body.key, { IMAGE_WORKER_LOG: log, ...env });
      workers.push(started);
      return started;
    },
    start(definition: unknown, input: unknown) {
      return sendRequest(url, 'POST', '/executions', { key: ADMIN_KEY, body: { definition, input } });
    },
    async tearDown() {
      for (const worker of workers) await worker.stop('SIGKILL');
      for (const server of servers) await server.stop();
      await database.drop();
    },
  };
}

const imagePipeline = {
  name: 'image pipeline',
  steps: [
    { id: 'generate', type: 'image.generate', input: { prompt: '{{ input.prompt }}' } },
    {
      id: 'refine',
      type: 'image.refine',
      depends_on: ['generate'],
      input: { strength: 2 },
      input_mappings: [{ from_step: 'generate', from_field: 'url', to_field: 'image_url' }],
    },
  ],
  output: { image: '{{ steps.refine.output.url }}' },
};

for (const backend of testBackends()) {
  describe(`worker processes (${backend})`, () => {
    it('runs the image pipeline on a worker process; refine gets generate’s output', async () => {
      const env = await setUp(backend);
      try {
        await env.worker({ IMAGE_WORKER_TYPES: 'image.generate,image.refine' });
        const started = await env.start(imagePipeline, { prompt: 'red fox' });
        assert.equal(started.status, 202, started.text);
        const execution = await waitForStatus(env.url, started.body.id, ['completed', 'failed']);
        assert.equal(execution.status, 'completed', JSON.stringify(execution));
        assert.deepEqual(execution.output, { image: 'mem://images/red%20fox.png?refined=2' });
        const refine = execution.steps.find((step: { step_id: string }) => step.step_id === 'refine');
        assert.deepEqual(refine.input, { strength: 2, image_url: 'mem://images/red%20fox.png' });
      } finally {
        await env.tearDown();
      }
    });

    it('gives a SIGKILLed worker’s task to another worker after the lease expires', async () => {
      const env = await setUp(backend);
      try {
        const doomed = await env.worker({ IMAGE_WORKER_TYPES: 'image.generate', IMAGE_WORKER_HOLD: '1' });
        const definition = {
          name: 'survives a worker',
          steps: [{ id: 'generate', type: 'image.generate', input: { prompt: 'owl' }, retry: { max_attempts: 3 } }],
        };
        const started = await env.start(definition, {});
        await waitUntil(() => readLog(env.log).some((event) => event.event === 'started'), 'the first worker to start');
        const held = readLog(env.log)[0];
        assert.equal(await doomed.stop('SIGKILL'), 'SIGKILL');
        await env.worker({ IMAGE_WORKER_TYPES: 'image.generate' });
        const execution = await waitForStatus(env.url, started.body.id, ['completed', 'failed']);
        assert.equal(execution.status, 'completed', JSON.stringify(execution));
        const generate = execution.steps[0];
        assert.equal(generate.attempts, 2);
        assert.notEqual(generate.output.worker, held?.pid);
        // The dead worker's late answer changes nothing.
        const late = await sendRequest(env.url, 'POST', `/tasks/${held?.task}/complete`, {
          key: env.workerKey,
          body: { output: { url: 'late' } },
        });
        assert.equal(late.status, 409, late.text);
        assert.equal(late.body.code, 'LEASE_LOST');
        const after = await sendRequest(env.url, 'GET', `/executions/${started.body.id}`, { key: ADMIN_KEY });
        assert.deepEqual(after.body.steps[0].output, generate.output);
      } finally {
        await env.tearDown();
      }
    });

    it('runs the fallback type on a second worker once the first type’s retries fail', async () => {
      const env = await setUp(backend);
      try {
        await env.worker({ IMAGE_WORKER_TYPES: 'image.generate_flaky' });
        await env.worker({ IMAGE_WORKER_TYPES: 'image.generate' });
        const definition = {
          name: 'image with fallback',
          steps: [
            {
              id: 'generate',
              type: 'image.generate_flaky',
              input: { prompt: 'heron' },
              retry: { max_attempts: 2, backoff: 'fixed', delay_ms: 100 },
              fallback: { type: 'image.generate' },
            },
          ],
        };
        const started = await env.start(definition, {});
        const execution = await waitForStatus(env.url, started.body.id, ['completed', 'failed']);
        assert.equal(execution.status, 'completed', JSON.stringify(execution));
        assert.equal(execution.steps[0].used_fallback, true);
        assert.equal(execution.steps[0].output.url, 'mem://images/heron.png');
        const events = readLog(env.log);
        const flaky = events.filter((event) => event.step === 'generate');
        assert.equal(flaky.length, 3, JSON.stringify(events));
        assert.notEqual(flaky[0]?.pid, flaky[2]?.pid, 'the fallback ran on the other worker');
      } finally {
        await env.tearDown();
      }
    });

    it('aborts the handler when the execution is cancelled', async () => {
      const env = await setUp(backend);
      try {
        await env.worker({ IMAGE_WORKER_TYPES: 'image.generate', IMAGE_WORKER_HOLD: '1' });
        const started = await env.start(
          { name: 'cancel me', steps: [{ id: 'generate', type: 'image.generate', input: { prompt: 'crow' } }] },
          {},
        );
        await waitUntil(() => readLog(env.log).some((event) => event.event === 'started'), 'the worker to start');
        const cancelled = await sendRequest(env.url, 'POST', `/executions/${started.body.id}/cancel`, {
          key: ADMIN_KEY,
        });
        assert.equal(cancelled.status, 200, cancelled.text);
        // The lease is 2 s, so a heartbeat comes within about a second and says cancel_requested.
        await waitUntil(
          () => readLog(env.log).some((event) => event.event === 'aborted'),
          'the handler to be aborted',
          10_000,
        );
        const execution = await waitForStatus(env.url, started.body.id, ['cancelled']);
        assert.equal(execution.steps[0].status, 'cancelled');
      } finally {
        await env.tearDown();
      }
    });

    it('wakes a poll waiting 20 s as soon as a step is queued, also on another server', async () => {
      const env = await setUp(backend, backend === 'postgres' ? 1 : 0);
      try {
        await sendRequest(env.url, 'PUT', '/task-types/wake.up', { key: env.workerKey, body: {} });
        const pollAt = env.servers[env.servers.length - 1]?.url ?? env.url;
        const began = Date.now();
        const waiting = sendRequest(pollAt, 'POST', '/tasks/poll', {
          key: env.workerKey,
          body: { worker_id: 'waiter', types: ['wake.up'], wait_seconds: 20 },
        });
        await new Promise((resolve) => setTimeout(resolve, 500));
        const started = await env.start({ name: 'wake', steps: [{ id: 'only', type: 'wake.up' }] }, {});
        const polled = await waiting;
        assert.equal(polled.body.tasks[0]?.execution_id, started.body.id);
        assert.ok(Date.now() - began < 10_000, `the poll answered after ${Date.now() - began} ms`);
      } finally {
        await env.tearDown();
      }
    });
  });
}
