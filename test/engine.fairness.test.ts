import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';

/**
 * One workspace cannot starve the others: 200 `http` steps of workspace A against a server that
 * never answers hold slots, yet workspace B's `noop` completes at once (A may hold only its share
 * of the process's slots). And an attempt that sets no `timeout_seconds` is bounded by
 * WEFT_DEFAULT_STEP_TIMEOUT_SECONDS.
 */

/** A loopback HTTP server that accepts requests and never answers them. */
async function startSilentServer() {
  const sockets = new Set<Socket>();
  let received = 0;
  const server = http.createServer(() => {
    received += 1;
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hang`,
    received: () => received,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function executionIn(server: TestServer, id: string, statuses: string[], headers: Record<string, string> = {}) {
  const response = await server.request('GET', `/executions/${id}`, { headers });
  return statuses.includes(response.body.status) ? response.body : undefined;
}

for (const backend of testBackends()) {
  describe(`fair claims across workspaces (${backend})`, () => {
    let server: TestServer;
    let silent: Awaited<ReturnType<typeof startSilentServer>>;

    before(async () => {
      silent = await startSilentServer();
      server = await startTestServer(backend, { workerConcurrency: 200 });
    });
    after(async () => {
      await server.close();
      await silent.close();
    });

    it("completes workspace B's noop within seconds while A's 200 hanging http steps hold slots", async () => {
      const workspaceB = await server.request('POST', '/workspaces', { body: { slug: 'tenant-b', name: 'B' } });
      assert.equal(workspaceB.status, 201, workspaceB.text);
      const inB = { 'x-workspace-id': workspaceB.body.id };
      const hanging = {
        name: 'Hangs',
        steps: [{ id: 'call', type: 'http', timeout_seconds: 600, input: { url: silent.url, timeout_seconds: 600 } }],
      };
      const workflow = await server.request('POST', '/workflows', { body: hanging });
      assert.equal(workflow.status, 201, workflow.text);
      for (let batch = 0; batch < 4; batch += 1) {
        const starts = await Promise.all(
          Array.from({ length: 50 }, () =>
            server.request('POST', `/workflows/${workflow.body.id}/executions`, { body: { input: {} } }),
          ),
        );
        for (const start of starts) assert.equal(start.status, 202, start.text);
      }
      // A holds as many slots as it may: the silent server has its requests and nothing answers.
      await waitFor('the hanging requests', 20_000, async () => (silent.received() >= 150 ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const heldByA = silent.received();

      const started = Date.now();
      const quick = await server.request('POST', '/executions', {
        body: { definition: { name: 'Quick', steps: [{ id: 'only', type: 'noop', input: { ok: true } }] } },
        headers: inB,
      });
      assert.equal(quick.status, 202, quick.text);
      const done = await waitFor("B's execution", 10_000, () =>
        executionIn(server, quick.body.id, ['completed', 'failed', 'cancelled'], inB),
      );
      const elapsedMs = Date.now() - started;
      assert.equal(done.status, 'completed');
      assert.ok(elapsedMs < 5000, `B waited ${elapsedMs} ms behind A's ${heldByA} hanging steps`);
      // A's steps still hang: nothing of A was failed to make room.
      const running = await server.request('GET', '/executions?status=running&limit=1');
      assert.equal(running.status, 200, running.text);
      assert.equal(running.body.items.length, 1);
    });
  });

  describe(`default attempt timeout (${backend})`, () => {
    let server: TestServer;
    let silent: Awaited<ReturnType<typeof startSilentServer>>;

    before(async () => {
      silent = await startSilentServer();
      server = await startTestServer(backend, { defaultStepTimeoutSeconds: 1 });
    });
    after(async () => {
      await server.close();
      await silent.close();
    });

    it('fails an attempt without timeout_seconds after WEFT_DEFAULT_STEP_TIMEOUT_SECONDS', async () => {
      const started = await server.request('POST', '/executions', {
        body: { definition: { name: 'No timeout', steps: [{ id: 'call', type: 'http', input: { url: silent.url } }] } },
      });
      assert.equal(started.status, 202, started.text);
      const done = await waitFor('the timeout', 10_000, () =>
        executionIn(server, started.body.id, ['completed', 'failed', 'cancelled']),
      );
      assert.equal(done.status, 'failed');
      assert.match(
        JSON.stringify(done.steps),
        /timed out after 1 s \(the default attempt timeout, WEFT_DEFAULT_STEP_TIMEOUT_SECONDS/,
      );
    });

    it("keeps a step's own timeout_seconds over the default", async () => {
      const started = await server.request('POST', '/executions', {
        body: {
          definition: {
            name: 'Own timeout',
            steps: [{ id: 'call', type: 'http', timeout_seconds: 2.5, input: { url: silent.url } }],
          },
        },
      });
      assert.equal(started.status, 202, started.text);
      const done = await waitFor('the timeout', 10_000, () =>
        executionIn(server, started.body.id, ['completed', 'failed', 'cancelled']),
      );
      assert.equal(done.status, 'failed');
      const text = JSON.stringify(done.steps);
      assert.match(text, /timed out after 2.5 s/);
      assert.doesNotMatch(text, /WEFT_DEFAULT_STEP_TIMEOUT_SECONDS/);
    });
  });
}
