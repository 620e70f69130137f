import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateApiKey } from '../src/auth/api-key-secrets.js';
import { type ApiResponse, sendRequest } from './helpers/api-server.js';
import { createTestDatabase, type TestDatabase } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';
import { ROOT, type ServeProcess, startServe } from './helpers/processes.js';

/**
 * The Python example worker (examples/python-worker/worker.py) against a real `weft serve`: it
 * declares its types, serves steps of a workflow (one of them uploads an artifact), heartbeats long
 * tasks, drops cancelled ones and releases unfinished ones on SIGTERM. The workers here long-poll with `--wait-seconds 2` so that
 * a SIGTERM (which lets the poll in flight return) stops them in about two seconds, not twenty.
 */

const WORKER = path.join(ROOT, 'examples/python-worker/worker.py');
const python = spawnSync('python3', ['--version']);
const skip = python.error ? `python3 is not available (${python.error.message})` : false;

/** A running Python worker. */
interface WorkerProcess {
  child: ChildProcess;
  id: string;
  output: { text: string };
  /** Sends a signal and waits (at most 30 s) for the exit code or signal name. */
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
}

/** Starts `python3 <args>` and waits for the worker's `python worker <id> is polling` line. */
async function startWorker(args: string[], env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn('python3', args, { cwd: ROOT, env: { ...process.env, ...env } });
  const output = { text: '' };
  child.stderr.on('data', (chunk) => {
    output.text += chunk;
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not start:\n${output.text}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      output.text += chunk;
      const match = /python worker (\S+) is polling (\S+) for /.exec(output.text);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited with ${code}:\n${output.text}`));
    });
  });
  return {
    child,
    id,
    output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`the worker did not stop after ${signal}:\n${output.text}`));
        }, 30_000);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

describe('examples/python-worker', { skip }, () => {
  let database: TestDatabase;
  let serve: ServeProcess;
  const adminKey = generateApiKey();
  let workerKey: string;
  const workers: WorkerProcess[] = [];

  const api = (method: string, route: string, body?: unknown, key = adminKey): Promise<ApiResponse> =>
    sendRequest(serve.url, method, route, { key, body });

  /** Polls an execution until it is no longer running (30 s at most); returns it. */
  async function waitForEnd(id: string, worker: WorkerProcess) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const execution = (await api('GET', `/executions/${id}`)).body;
      if (execution.status !== 'running') return execution;
      if (Date.now() > deadline) {
        throw new Error(
          `execution still running: ${JSON.stringify(execution)}\nworker:\n${worker.output.text}\nserver:\n${serve.output.text.slice(-5000)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Creates a workflow and starts it with `input`; returns the execution id. */
  async function run(definition: unknown, input: unknown): Promise<string> {
    const created = await api('POST', '/workflows', definition);
    assert.equal(created.status, 201, created.text);
    const started = await api('POST', `/workflows/${created.body.id}/executions`, { input });
    assert.equal(started.status, 202, started.text);
    return started.body.id;
  }

  async function launch(args: string[], env: Record<string, string> = {}): Promise<WorkerProcess> {
    const worker = await startWorker(args, { WEFT_URL: serve.url, WEFT_API_KEY: workerKey, ...env });
    workers.push(worker);
    return worker;
  }

  /**
   * The example worker extended the way its docstring says, by importing it: a `test.slow` type
   * with a 3-second lease (so heartbeats matter) whose handler waits to be cancelled when SLOW=1.
   */
  function slowWorkerScript(): string {
    const file = path.join(database.config.dataDir, 'slow_worker.py');
    writeFileSync(
      file,
      [
        'import os',
        'import worker',
        '',
        '@worker.task_type("test.slow", "Waits to be cancelled when SLOW=1.", {"type": "object"},',
        '                  {"type": "object", "properties": {"done_by": {"type": "string"}}}, lease_seconds=3)',
        'def slow(task_input, task):',
        '    if os.environ.get("SLOW") == "1":',
        '        task.cancelled.wait(60)',
        '    return {"done_by": os.environ.get("WEFT_WORKER_ID", "")}',
        '',
        'raise SystemExit(worker.main(["--types", "test.slow", "--wait-seconds", "2", "--grace-seconds", "1"]))',
        '',
      ].join('\n'),
    );
    return file;
  }

  const slowDefinition = {
    name: 'slow',
    steps: [{ id: 'slow', type: 'test.slow', input: { n: '{{ input.n }}' } }],
    output: { done_by: '{{ steps.slow.output.done_by }}' },
  };

  before(async () => {
    database = await createTestDatabase('sqlite', { migrated: true });
    serve = await startServe({
      WEFT_DATA_DIR: database.config.dataDir,
      WEFT_DATABASE_URL: database.config.databaseUrl,
      WEFT_ADMIN_KEY: adminKey,
    });
    const key = await api('POST', '/api-keys', { name: 'python worker', role: 'worker' });
    assert.equal(key.status, 201, key.text);
    workerKey = key.body.key;
  });

  after(async () => {
    for (const worker of workers) await worker.stop('SIGKILL').catch(() => undefined);
    await serve?.stop('SIGTERM');
    await database?.drop();
  });

  it('declares its types, serves a workflow and puts an artifact, fails bad input without retries, exits 0 on SIGTERM', async () => {
    const worker = await launch([WORKER, '--wait-seconds', '2'], { WEFT_WORKER_ID: 'py-e2e' });
    assert.equal(worker.id, 'py-e2e');
    const types = await api('GET', '/task-types');
    assert.equal(types.status, 200, types.text);
    // biome-ignore lint/suspicious/noExplicitAny: a list item of GET /task-types.
    const shout = types.body.items.find((item: any) => item.type === 'text.shout');
    assert.equal(shout?.source, 'declared');
    assert.deepEqual(shout.input_schema.required, ['text']);

    const definition = {
      name: 'python shout',
      steps: [
        { id: 'shout', type: 'text.shout', input: { text: '{{ input.text }}' } },
        { id: 'count', type: 'text.count_words', input: { text: '{{ steps.shout.output.text }}' } },
        {
          id: 'decorate',
          type: 'transform',
          input: { expression: '"*** " & text & " ***"', data: '{{ steps.shout.output }}' },
        },
        { id: 'summary', type: 'text.report', input: { text: '{{ steps.shout.output.text }}' } },
      ],
      output: { banner: '{{ steps.decorate.output }}', words: '{{ steps.count.output.words }}' },
    };
    // The declared output schema is closed: reading a field it does not have is a validation error.
    const invalid = await api('POST', '/workflows/validate', {
      ...definition,
      output: { nope: '{{ steps.shout.output.loud }}' },
    });
    assert.equal(invalid.body.valid, false, invalid.text);

    const id = await run(definition, { text: 'hello from python' });
    const done = await waitForEnd(id, worker);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual(done.output, { banner: '*** HELLO FROM PYTHON ***', words: 3 });
    // biome-ignore lint/suspicious/noExplicitAny: a step of an execution view.
    const shoutStep = done.steps.find((step: any) => step.step_id === 'shout');
    assert.deepEqual(shoutStep.output, { text: 'HELLO FROM PYTHON' });

    // text.report uploaded a JSON report while it held the task, and output the artifact's metadata.
    // biome-ignore lint/suspicious/noExplicitAny: a step of an execution view.
    const artifact = done.steps.find((step: any) => step.step_id === 'summary').output;
    assert.equal(artifact.name, 'summary-report.json', JSON.stringify(artifact));
    assert.equal(artifact.step_id, 'summary');
    assert.equal(artifact.content_type, 'application/json');
    const listed = await api('GET', `/executions/${id}/artifacts`);
    assert.deepEqual(listed.body.items, [artifact]);
    const file = await fetch(`${serve.url}/api/v1/executions/${id}/artifacts/summary-report.json`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'application/json');
    const bytes = Buffer.from(await file.arrayBuffer());
    assert.equal(bytes.length, artifact.size);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), artifact.sha256);
    assert.deepEqual(
      { ...JSON.parse(bytes.toString()), execution_id: undefined },
      { text: 'HELLO FROM PYTHON', words: 3, characters: 17, attempt: 1, execution_id: undefined },
    );
    // Its task is reported: the worker key holds no task of the execution any more.
    const late = await fetch(`${serve.url}/api/v1/executions/${id}/artifacts/late.txt?step_id=summary`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${workerKey}`, 'content-type': 'text/plain' },
      body: 'late',
    });
    assert.equal(late.status, 403, await late.text());

    // A NonRetryable exception fails the attempt with retryable false: no second attempt.
    const retried = {
      name: 'python shout, with retries',
      steps: [
        {
          id: 'shout',
          type: 'text.shout',
          input: { text: '{{ input.text }}' },
          retry: { max_attempts: 3, delay_ms: 10 },
        },
      ],
    };
    const bad = await run(retried, { text: 42 });
    const failed = await waitForEnd(bad, worker);
    assert.equal(failed.status, 'failed', JSON.stringify(failed));
    assert.equal(failed.steps[0].attempts, 1, JSON.stringify(failed.steps[0]));

    assert.equal(await worker.stop('SIGTERM'), 0, worker.output.text);
    assert.match(worker.output.text, /SIGTERM: stopping/);
    assert.match(worker.output.text, /stopped/);
  });

  it('heartbeats keep a long task; SIGTERM releases it and another worker finishes it', async () => {
    const script = slowWorkerScript();
    const env = { PYTHONPATH: path.dirname(WORKER) };
    const slow = await launch([script], { ...env, SLOW: '1', WEFT_WORKER_ID: 'py-slow' });
    const id = await run(slowDefinition, { n: 1 });
    await waitUntil(() => /task \S+: test\.slow/.test(slow.output.text), 'the slow worker to take the task', 30_000);
    // Twice the 3-second lease: only heartbeats keep the step from being taken back meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const held = (await api('GET', `/executions/${id}`)).body;
    assert.equal(held.status, 'running', JSON.stringify(held));
    assert.equal(held.steps[0].status, 'running', JSON.stringify(held.steps[0]));
    assert.equal(held.steps[0].attempts, 1, JSON.stringify(held.steps[0]));

    assert.equal(await slow.stop('SIGTERM'), 0, slow.output.text);
    assert.match(slow.output.text, /task \S+: released/);
    const released = (await api('GET', `/executions/${id}`)).body;
    assert.equal(released.status, 'running', JSON.stringify(released));
    assert.equal(released.steps[0].status, 'queued', JSON.stringify(released.steps[0]));

    // The step has one attempt (no retry policy): the release did not use it up.
    const fast = await launch([script], { ...env, WEFT_WORKER_ID: 'py-fast' });
    const done = await waitForEnd(id, fast);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual(done.output, { done_by: 'py-fast' });
    assert.equal(await fast.stop('SIGTERM'), 0, fast.output.text);
  });

  it('drops a task whose execution is cancelled, without completing it', async () => {
    const script = slowWorkerScript();
    const worker = await launch([script], { PYTHONPATH: path.dirname(WORKER), SLOW: '1' });
    const id = await run(slowDefinition, { n: 2 });
    await waitUntil(() => /task \S+: test\.slow/.test(worker.output.text), 'the worker to take the task', 30_000);
    const cancelled = await api('POST', `/executions/${id}/cancel`);
    assert.equal(cancelled.status, 200, cancelled.text);
    // The next heartbeat (every second) answers cancel_requested, or 409 LEASE_LOST.
    await waitUntil(
      () => /cancel requested; dropping it|lease lost; dropping it/.test(worker.output.text),
      'the worker to drop the task',
      15_000,
    );
    const execution = (await api('GET', `/executions/${id}`)).body;
    assert.equal(execution.status, 'cancelled', JSON.stringify(execution));
    assert.equal(execution.steps[0].output, null);
    assert.equal(await worker.stop('SIGTERM'), 0, worker.output.text);
    assert.doesNotMatch(worker.output.text, /: completed|released/);
  });
});
