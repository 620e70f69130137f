import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution } from './helpers/http-fixtures.js';

/**
 * `http` steps under the egress policy, through the API: what a user sees in the step error
 * (EGRESS_REFUSED, SIZE_LIMIT, the default timeout) and that a refused or oversized request is
 * not retried. Targets are real servers on loopback; 127.0.0.2 stands for a destination the
 * operator vouched for (WEFT_EGRESS_ALLOW), 127.0.0.1 for the private network behind it.
 */

const MiB = 1024 * 1024;

interface Target {
  url: string;
  /** Requests received, by path. */
  hits: string[];
  close(): Promise<void>;
}

/** A real server on `host` whose handler writes the answer itself. */
async function listen(host: string, handle: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '/');
    handle(req, res);
  });
  // Idle connections stay open for the whole file: Node's 5 s default could close a pooled one just
  // as a slow (loaded) run reuses it, a network error that would be retried and blur the counts.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const target: Target = {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return target;
}

const ok = (_req: http.IncomingMessage, res: http.ServerResponse) =>
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');

/** Runs one http step (3 attempts allowed, so a retry would show) and returns the finished step. */
async function runHttpStep(server: TestServer, input: Record<string, unknown>, retry = { max_attempts: 3 }) {
  const id = await runAdhoc(server, {
    name: 'egress',
    steps: [{ id: 'call', type: 'http', input, retry: { ...retry, delay_ms: 10, jitter: false } }],
  });
  const execution = await waitForExecution(server, id, ['completed', 'failed']);
  const step = stepOf(execution, 'call');
  if (step.attempts > 1) {
    // Which attempt failed how, for the assertion message below.
    const timeline = await server.request('GET', `/executions/${id}/timeline`);
    step.error = { ...step.error, timeline: timeline.body };
  }
  return { execution, step };
}

/** Asserts the step failed on its first attempt, not retried, with `code` and a message matching `why`. */
function assertFailedOnce(step: ReturnType<typeof stepOf>, code: string, why: RegExp): void {
  assert.equal(step.status, 'failed', JSON.stringify(step));
  assert.equal(step.attempts, 1, `not retried: ${JSON.stringify(step.error)}`);
  assert.equal(step.error.code, code, JSON.stringify(step.error));
  assert.equal(step.error.retryable, false);
  assert.match(step.error.message, why);
}

for (const backend of testBackends()) {
  describe(`http steps under WEFT_EGRESS_PRIVATE=deny (${backend})`, () => {
    let server: TestServer;
    let loopback: Target;
    let vouched: Target;

    before(async () => {
      server = await startTestServer(backend, {
        pollIntervalMs: 250,
        egressPrivate: 'deny',
        egressAllow: ['127.0.0.2'],
      });
      loopback = await listen('127.0.0.1', ok);
      vouched = await listen('127.0.0.2', (req, res) => {
        const location = new URL(req.url ?? '/', 'http://x').searchParams.get('to');
        if (location) return res.writeHead(302, { location }).end();
        ok(req, res);
      });
    });
    after(async () => {
      await server.close();
      await loopback.close();
      await vouched.close();
    });

    it('refuses loopback in plain and decimal spelling, and Weft’s own /metrics, saying why', async () => {
      const port = new URL(loopback.url).port;
      for (const url of [`${loopback.url}/a`, `http://2130706433:${port}/b`, `http://[::ffff:127.0.0.1]:${port}/c`]) {
        const { step } = await runHttpStep(server, { url });
        assertFailedOnce(
          step,
          'EGRESS_REFUSED',
          /127\.0\.0\.1|7f00:1.* is a private address \(loopback\) and WEFT_EGRESS_PRIVATE=deny/,
        );
      }
      assert.deepEqual(loopback.hits, [], 'nothing reached the loopback server');
      const { step } = await runHttpStep(server, { url: `${server.url}/metrics` });
      assertFailedOnce(step, 'EGRESS_REFUSED', /egress refused: 127\.0\.0\.1 is a private address/);
      assert.match(step.error.message, /\/metrics/, 'the message names the request');
    });

    it('re-checks every redirect: an allowed host redirecting to loopback is refused at the hop', async () => {
      const allowed = await runHttpStep(server, { url: `${vouched.url}/direct` });
      assert.equal(allowed.step.status, 'completed', JSON.stringify(allowed.step.error));
      const port = new URL(loopback.url).port;
      for (const to of [
        `${loopback.url}/secret`,
        `http://2130706433:${port}/secret`,
        'http://169.254.169.254/latest',
      ]) {
        const { step } = await runHttpStep(server, { url: `${vouched.url}/hop?to=${encodeURIComponent(to)}` });
        assertFailedOnce(
          step,
          'EGRESS_REFUSED',
          /egress refused: (127\.0\.0\.1 is a private|169\.254\.169\.254 is a link-local)/,
        );
      }
      const toData = await runHttpStep(server, { url: `${vouched.url}/hop?to=${encodeURIComponent('data:,x')}` });
      assertFailedOnce(toData.step, 'EGRESS_REFUSED', /the scheme 'data:' is refused/);
      assert.deepEqual(loopback.hits, [], 'nothing reached the loopback server');
    });
  });

  describe(`http steps with WEFT_EGRESS_ALLOW=127.0.0.1,data: under deny (${backend})`, () => {
    let server: TestServer;
    let loopback: Target;

    before(async () => {
      server = await startTestServer(backend, {
        pollIntervalMs: 250,
        egressPrivate: 'deny',
        egressAllow: ['127.0.0.1', 'data:'],
      });
      loopback = await listen('127.0.0.1', ok);
    });
    after(async () => {
      await server.close();
      await loopback.close();
    });

    it('lets the named address and scheme through, and nothing else private', async () => {
      const port = new URL(loopback.url).port;
      for (const url of [`${loopback.url}/plain`, `http://2130706433:${port}/decimal`]) {
        const { step } = await runHttpStep(server, { url });
        assert.equal(step.status, 'completed', JSON.stringify(step.error));
        assert.deepEqual(step.output.body, { ok: true });
      }
      assert.deepEqual(loopback.hits, ['/plain', '/decimal']);
      const data = await runHttpStep(server, { url: 'data:application/json,{"inline":1}' });
      assert.equal(data.step.status, 'completed', JSON.stringify(data.step.error));
      assert.deepEqual(data.step.output.body, { inline: 1 });
      const other = await runHttpStep(server, { url: `http://127.0.0.2:${port}/` });
      assertFailedOnce(other.step, 'EGRESS_REFUSED', /127\.0\.0\.2 is a private address/);
      const file = await runHttpStep(server, { url: 'file:///etc/passwd' });
      assertFailedOnce(file.step, 'EGRESS_REFUSED', /the scheme 'file:' is refused/);
    });
  });

  describe(`http steps under the default WEFT_EGRESS_PRIVATE=allow (${backend})`, () => {
    let server: TestServer;
    let target: Target;
    /** Bytes the streaming endpoint managed to write before the client hung up. */
    let streamed = 0;

    before(async () => {
      server = await startTestServer(backend, {
        pollIntervalMs: 250,
        httpMaxResponseBytes: 10 * MiB,
        httpDefaultTimeoutMs: 300,
      });
      target = await listen('127.0.0.1', (req, res) => {
        if (req.url === '/never') return; // holds the request open without a word
        if (req.url === '/declared') {
          return res.writeHead(200, { 'content-length': String(200 * MiB) }).end();
        }
        if (req.url !== '/huge') return ok(req, res);
        // 200 MB, chunked (no Content-Length to refuse up front), written as fast as it is read.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 120);
        const write = () => {
          while (streamed < 200 * MiB && !res.destroyed) {
            streamed += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', write);
          }
          res.end();
        };
        write();
      });
    });
    after(async () => {
      await server.close();
      await target.close();
    });

    it('reaches loopback servers (the single-team default)', async () => {
      const { step } = await runHttpStep(server, { url: `${target.url}/fine` });
      assert.equal(step.status, 'completed', JSON.stringify(step.error));
    });

    it('still refuses data:, file: and the metadata address', async () => {
      for (const [url, why] of [
        ['data:text/plain,hello', /the scheme 'data:' is refused: only http and https are allowed/],
        ['file:///etc/passwd', /the scheme 'file:' is refused/],
        ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address, always refused/],
        ['http://[::ffff:169.254.169.254]/', /a9fe:a9fe is a link-local address/],
      ] as const) {
        const { step } = await runHttpStep(server, { url });
        assertFailedOnce(step, 'EGRESS_REFUSED', why);
      }
    });

    it('fails a body over WEFT_HTTP_MAX_RESPONSE_BYTES without retry, and without holding it in memory', async (t) => {
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 5);
      try {
        // Its own timeout: the server's 300 ms default is for the test below, and reading 10 MiB
        // on a loaded machine can take longer.
        const { step } = await runHttpStep(server, { url: `${target.url}/huge`, timeout_seconds: 30 });
        assertFailedOnce(step, 'SIZE_LIMIT', /larger than 10485760 bytes, the cap \(WEFT_HTTP_MAX_RESPONSE_BYTES\)/);
      } finally {
        clearInterval(sampler);
      }
      const growth = peak - before;
      t.diagnostic(`RSS growth ${(growth / MiB).toFixed(1)} MB; ${(streamed / MiB).toFixed(1)} MB streamed of 200`);
      assert.ok(growth < 64 * MiB, `RSS grew ${Math.round(growth / MiB)} MB reading past a 10 MiB cap`);
      assert.ok(streamed < 100 * MiB, `the connection was cut: ${Math.round(streamed / MiB)} MB of 200 sent`);
      const declared = await runHttpStep(server, { url: `${target.url}/declared`, timeout_seconds: 30 });
      assertFailedOnce(declared.step, 'SIZE_LIMIT', /WEFT_HTTP_MAX_RESPONSE_BYTES/);
    });

    it('times out a request to a server that never answers after the default, naming the setting', async () => {
      const started = Date.now();
      const { step } = await runHttpStep(server, { url: `${target.url}/never` }, { max_attempts: 1 });
      assert.equal(step.status, 'failed');
      assert.match(step.error.message, /timed out after 0\.3 s \(the default timeout, WEFT_HTTP_DEFAULT_TIMEOUT_MS/);
      assert.ok(Date.now() - started < 10_000, 'it did not wait the 30 s of the shipped default');
    });
  });
}
