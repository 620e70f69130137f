import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sendRequest } from './helpers/api-server.js';
import { createTestDatabase, testBackends } from './helpers/backends.js';
import { startFixtureServer } from './helpers/http-fixtures.js';
import { ROOT, startServe, weftCli } from './helpers/processes.js';

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function runCli(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...weftCli(), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('weft --version and the flags of weft serve', () => {
  it('prints the version of package.json', async () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await runCli([flag]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), manifest.version);
    }
  });

  it('serves on the port, interface and data folder its flags name, over the variables', async () => {
    const database = await createTestDatabase('sqlite');
    const port = await freePort();
    const dataDir = path.join(database.config.dataDir, 'flagged');
    // The variables say otherwise: the flags win.
    const serve = await startServe({ WEFT_DATA_DIR: path.join(database.config.dataDir, 'from-env'), WEFT_PORT: '1' }, [
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--data-dir',
      dataDir,
    ]);
    try {
      assert.equal(serve.url, `http://127.0.0.1:${port}`);
      const health = await fetch(`${serve.url}/healthz`);
      assert.equal(health.status, 200);
      assert.ok(statSync(path.join(dataDir, 'weft.db')).isFile(), 'the SQLite file is in --data-dir');
      assert.equal(statSync(path.join(database.config.dataDir, 'from-env'), { throwIfNoEntry: false }), undefined);
    } finally {
      assert.equal(await serve.stop(), 0);
      await database.drop();
    }
  });

  it('refuses a port flag that is not a port, naming it', async () => {
    const result = await runCli(['serve', '--port', 'eighty'], { WEFT_DATA_DIR: '/nonexistent/never-created' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /WEFT_PORT|--port/);
  });
});

describe('weft validate', () => {
  it('prints the plan of a valid file and exits 0', async () => {
    const result = await runCli(['validate', path.join(ROOT, 'templates/webpage-summary.json')]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /valid \(3 steps in 3 layers\)/);
    assert.match(result.stdout, /1\. download\n {2}2\. extract\n {2}3\. summarize/);
  });

  it('prints each error with its path and exits 1', async () => {
    const database = await createTestDatabase('sqlite');
    try {
      const file = path.join(database.config.dataDir, 'bad.json');
      writeFileSync(file, JSON.stringify({ name: 'bad', steps: [{ id: 'a', type: 'htp', depends_on: ['a'] }] }));
      const result = await runCli(['validate', file]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /error at \/steps\/0\/type: unknown task type 'htp' \(did you mean 'http'\?\)/);
      assert.match(result.stderr, /error at \/steps\/0: dependency cycle: a -> a/);
      assert.match(result.stderr, /invalid \(2 errors\)/);
      writeFileSync(file, '{ not json');
      const broken = await runCli(['validate', file]);
      assert.equal(broken.code, 1);
      assert.match(broken.stderr, /not valid JSON/);
    } finally {
      await database.drop();
    }
  });
});

describe('weft run', () => {
  it('runs the webpage-summary template against local servers', async () => {
    const site = await startFixtureServer(() => ({
      text: '<html><head><title>Owls</title></head><body><article><h1>Owls</h1><p>Owls hunt at night and see well in the dark, which makes them excellent hunters of mice and voles in the fields.</p><p>They fly without a sound.</p></article></body></html>',
      contentType: 'text/html',
    }));
    const llm = await startFixtureServer(() => ({
      json: { model: 'stub', choices: [{ message: { content: 'Owls hunt quietly at night.' } }], usage: {} },
    }));
    try {
      const result = await runCli(
        [
          'run',
          path.join(ROOT, 'templates/webpage-summary.json'),
          '--input',
          JSON.stringify({ webpage_url: `${site.url}/owls` }),
        ],
        { WEFT_LLM_BASE_URL: llm.url, WEFT_LLM_MODEL: 'owl-7b' },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { title: 'Owls', summary: 'Owls hunt quietly at night.' });
      assert.match(result.stderr, /summarize: completed/);
      // The template names no model: WEFT_LLM_MODEL's is sent.
      assert.equal((llm.requests[0]?.body as { model?: string } | undefined)?.model, 'owl-7b');
    } finally {
      await site.close();
      await llm.close();
    }
  });

  it('runs a workflow with progress lines, prints its output, exits 0; exits 1 when it fails', async () => {
    const database = await createTestDatabase('sqlite');
    try {
      const file = path.join(database.config.dataDir, 'run.json');
      writeFileSync(
        file,
        JSON.stringify({
          name: 'cli run',
          steps: [
            { id: 'a', type: 'noop', input: { n: '{{ input.n }}' } },
            { id: 'wait', type: 'delay', input: { seconds: 0.2 }, depends_on: ['a'] },
            {
              id: 'b',
              type: 'transform',
              input: { expression: 'n * 3', data: '{{ steps.a.output }}' },
              depends_on: ['wait'],
            },
          ],
          output: { tripled: '{{ steps.b.output }}' },
        }),
      );
      const result = await runCli(['run', file, '--input', '{"n": 14}']);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { tripled: 42 });
      assert.match(result.stderr, /\[1\/3\] a: completed/);
      assert.match(result.stderr, /wait: waiting/);
      assert.match(result.stderr, /execution completed/);

      writeFileSync(
        file,
        JSON.stringify({
          name: 'fails',
          steps: [{ id: 'a', type: 'transform', input: { expression: '$error("boom")' } }],
        }),
      );
      const failed = await runCli(['run', file]);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /execution failed: step 'a' failed: transform failed: boom/);
      assert.equal(failed.stdout, '');
    } finally {
      await database.drop();
    }
  });

  it('takes signals up front with --signal, and exits 3 naming the signal a run waits for', async () => {
    const database = await createTestDatabase('sqlite');
    try {
      const file = path.join(database.config.dataDir, 'approval.json');
      writeFileSync(
        file,
        JSON.stringify({
          name: 'approval',
          steps: [
            { id: 'approve', type: 'wait_for_signal', input: { signal: 'approved' } },
            { id: 'after', type: 'noop', input: { by: '{{ steps.approve.output.by }}' }, depends_on: ['approve'] },
          ],
          output: { by: '{{ steps.after.output.by }}' },
        }),
      );
      const given = await runCli(['run', file, '--signal', 'approved={"by": "ana"}']);
      assert.equal(given.code, 0, given.stderr);
      assert.deepEqual(JSON.parse(given.stdout), { by: 'ana' });

      const waiting = await runCli(['run', file]);
      assert.equal(waiting.code, 3, waiting.stderr);
      assert.match(waiting.stderr, /waits for signal 'approved'; give it with --signal name=<json>/);
      assert.equal(waiting.stdout, '');

      const bad = await runCli(['run', file, '--signal', 'approved={not json']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--signal 'approved': the data is not JSON/);
    } finally {
      await database.drop();
    }
  });
});

for (const backend of testBackends()) {
  describe(`weft migrate and serve (${backend})`, () => {
    it('migrates once, then serves with a bootstrap owner key in a private data folder, then stops on SIGTERM', async () => {
      const database = await createTestDatabase(backend);
      const env = {
        WEFT_DATA_DIR: database.config.dataDir,
        WEFT_DATABASE_URL: database.config.databaseUrl,
        WEFT_PORT: '0',
        WEFT_HOST: '127.0.0.1',
      };
      try {
        const first = await runCli(['migrate'], env);
        assert.equal(first.code, 0, first.stderr);
        assert.match(first.stdout, /applied: 0001-foundation/);
        assert.match((await runCli(['migrate'], env)).stdout, /database is up to date/);

        chmodSync(database.config.dataDir, 0o755); // as an older version left it
        const serve = await startServe(env);
        try {
          const url = serve.url;
          const keyFile = path.join(database.config.dataDir, 'admin-key');
          const key = readFileSync(keyFile, 'utf8').trim();
          assert.equal(statSync(keyFile).mode & 0o777, 0o600);
          assert.equal(statSync(database.config.dataDir).mode & 0o777, 0o700, 'the data folder is private');
          if (backend === 'sqlite') assert.equal(statSync(database.config.databaseUrl).mode & 0o777, 0o600);
          assert.ok(serve.output.text.includes(key), 'the generated key is printed once at first start');
          const created = await sendRequest(url, 'POST', '/workflows', {
            key,
            body: JSON.parse(readFileSync(path.join(ROOT, 'templates/fan-out-fan-in.json'), 'utf8')),
          });
          assert.equal(created.status, 201);
          assert.equal((await sendRequest(url, 'GET', '!/readyz')).body.database, backend);
        } finally {
          assert.equal(await serve.stop('SIGTERM'), 0);
        }
      } finally {
        await database.drop();
      }
    });
  });
}
