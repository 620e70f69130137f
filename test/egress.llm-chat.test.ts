import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isUnderBaseUrl } from '../src/tasks/builtin/llm-chat.js';
import { startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { runAdhoc, stepOf, waitForExecution } from './helpers/http-fixtures.js';

/**
 * Where `llm.chat` sends keys: WEFT_LLM_API_KEY only to WEFT_LLM_BASE_URL (same origin, path at
 * or under it), a step's own `api_key` wherever it points, nothing otherwise; and the call goes
 * through the egress policy and the response cap like an `http` step.
 */

const OPERATOR_KEY = 'sk-operator-key-never-leaves';

/** An OpenAI-compatible endpoint on loopback recording the Authorization header of each call (null when absent). */
async function startChatEndpoint() {
  const authorizations: Array<string | null> = [];
  const models: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    authorizations.push(req.headers.authorization ?? null);
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      models.push((JSON.parse(body || '{}') as { model?: string }).model);
      const path = req.url ?? '/';
      // Failures as a provider answers them: an overloaded server's long page, a refused key.
      if (path.startsWith('/overloaded/')) return res.writeHead(503).end('o'.repeat(5000));
      if (path.startsWith('/refused/')) {
        return res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid api key"}');
      }
      const content = path.startsWith('/big/') ? 'x'.repeat(20_000) : `answered ${path}`;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ model: 'm', choices: [{ message: { content } }], usage: {} }));
    });
  });
  // Idle connections stay open for the whole file (see egress.http-steps.test.ts).
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    authorizations,
    models,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function chat(server: TestServer, input: Record<string, unknown>) {
  const id = await runAdhoc(server, {
    name: 'chat',
    steps: [
      {
        id: 'ask',
        type: 'llm.chat',
        input: { prompt: 'hi', ...input },
        retry: { max_attempts: 2, delay_ms: 10, jitter: false },
      },
    ],
  });
  return stepOf(await waitForExecution(server, id, ['completed', 'failed']), 'ask');
}

describe('the configured LLM base URL', () => {
  it('covers its own origin and the paths at or under its path, nothing else', () => {
    const base = 'https://llm.example.com/v1';
    for (const url of [base, `${base}/`, `${base}/chat`, 'HTTPS://LLM.example.com:443/v1']) {
      assert.equal(isUnderBaseUrl(url, base), true, url);
    }
    for (const url of [
      'https://llm.example.com/v10',
      'https://llm.example.com/',
      'http://llm.example.com/v1',
      'https://llm.example.com:8443/v1',
      'https://llm.example.com.evil.test/v1',
      'https://user@llm.example.com/v1',
      'not a url',
    ]) {
      assert.equal(isUnderBaseUrl(url, base), false, url);
    }
  });
});

for (const backend of testBackends()) {
  describe(`llm.chat keys and egress (${backend})`, () => {
    let configured: Awaited<ReturnType<typeof startChatEndpoint>>;
    let other: Awaited<ReturnType<typeof startChatEndpoint>>;
    let server: TestServer;

    before(async () => {
      configured = await startChatEndpoint();
      other = await startChatEndpoint();
      server = await startTestServer(backend, {
        pollIntervalMs: 250,
        llmBaseUrl: `${configured.url}/v1`,
        llmApiKey: OPERATOR_KEY,
        llmModel: 'house-model',
        httpMaxResponseBytes: 4096,
      });
    });
    after(async () => {
      await server.close();
      await configured.close();
      await other.close();
    });

    it('sends WEFT_LLM_API_KEY to the configured base URL, with or without base_url naming it', async () => {
      for (const input of [{}, { base_url: `${configured.url}/v1/` }]) {
        const step = await chat(server, input);
        assert.equal(step.status, 'completed', JSON.stringify(step.error));
        assert.equal(step.output.text, 'answered /v1/chat/completions');
      }
      assert.deepEqual(configured.authorizations, [`Bearer ${OPERATOR_KEY}`, `Bearer ${OPERATOR_KEY}`]);
    });

    it('sends no key to another base_url, not even another path on the same server', async () => {
      configured.authorizations.length = 0;
      const elsewhere = await chat(server, { base_url: `${other.url}/steal` });
      assert.equal(elsewhere.status, 'completed', JSON.stringify(elsewhere.error));
      assert.deepEqual(other.authorizations, [null]);
      const sibling = await chat(server, { base_url: `${configured.url}/v10` });
      assert.equal(sibling.status, 'completed', JSON.stringify(sibling.error));
      const otherSpelling = await chat(server, { base_url: configured.url.replace('127.0.0.1', 'localhost') });
      assert.equal(otherSpelling.status, 'completed', JSON.stringify(otherSpelling.error));
      assert.deepEqual(configured.authorizations, [null, null], 'a different path or origin gets no key');
    });

    it("sends the step's own api_key wherever the step points", async () => {
      other.authorizations.length = 0;
      configured.authorizations.length = 0;
      const step = await chat(server, { base_url: other.url, api_key: 'sk-step-key' });
      assert.equal(step.status, 'completed', JSON.stringify(step.error));
      assert.deepEqual(other.authorizations, ['Bearer sk-step-key']);
      await chat(server, { api_key: 'sk-step-key' });
      assert.deepEqual(configured.authorizations, ['Bearer sk-step-key'], 'it replaces the operator key');
    });

    it("sends WEFT_LLM_MODEL when the step names no model, and the step's model when it does", async () => {
      configured.models.length = 0;
      assert.equal((await chat(server, {})).status, 'completed');
      assert.equal((await chat(server, { model: 'step-model' })).status, 'completed');
      assert.deepEqual(configured.models, ['house-model', 'step-model']);
    });

    it('keeps a failed answer as an http step does: the status and the first 2 KiB in details, 5xx retried', async () => {
      const overloaded = await chat(server, { base_url: `${other.url}/overloaded` });
      assert.equal(overloaded.status, 'failed');
      assert.equal(overloaded.attempts, 2, 'a 503 is retried');
      assert.match(
        overloaded.error.message,
        /^llm\.chat: http:\/\/127\.0\.0\.1:\d+\/overloaded\/chat\/completions answered 503$/,
      );
      assert.equal(overloaded.error.retryable, true);
      assert.deepEqual(overloaded.error.details, { status: 503, body: 'o'.repeat(2048), body_truncated: true });
      const refused = await chat(server, { base_url: `${other.url}/refused` });
      assert.equal(refused.attempts, 1, 'a 401 is not retried');
      assert.equal(refused.error.retryable, false);
      assert.deepEqual(refused.error.details, {
        status: 401,
        body: '{"error":"invalid api key"}',
        body_truncated: false,
      });
    });

    it('fails an answer over WEFT_HTTP_MAX_RESPONSE_BYTES without retry', async () => {
      const step = await chat(server, { base_url: `${other.url}/big` });
      assert.equal(step.status, 'failed');
      assert.equal(step.attempts, 1);
      assert.equal(step.error.code, 'SIZE_LIMIT');
      assert.match(step.error.message, /larger than 4096 bytes, the cap \(WEFT_HTTP_MAX_RESPONSE_BYTES\)/);
    });
  });

  describe(`llm.chat under WEFT_EGRESS_PRIVATE=deny (${backend})`, () => {
    let endpoint: Awaited<ReturnType<typeof startChatEndpoint>>;
    let server: TestServer;

    before(async () => {
      endpoint = await startChatEndpoint();
      server = await startTestServer(backend, {
        pollIntervalMs: 250,
        llmBaseUrl: endpoint.url,
        llmModel: 'any-model',
        llmApiKey: OPERATOR_KEY,
        egressPrivate: 'deny',
      });
    });
    after(async () => {
      await server.close();
      await endpoint.close();
    });

    it('refuses a private base URL without retry, saying why, and sends nothing', async () => {
      for (const input of [{}, { base_url: 'http://169.254.169.254/v1' }]) {
        const step = await chat(server, input);
        assert.equal(step.status, 'failed');
        assert.equal(step.attempts, 1);
        assert.equal(step.error.code, 'EGRESS_REFUSED');
        assert.match(step.error.message, /llm\.chat: .*egress refused: .*(WEFT_EGRESS_PRIVATE=deny|link-local)/);
      }
      assert.deepEqual(endpoint.authorizations, []);
    });
  });
}

for (const backend of testBackends()) {
  describe(`llm.chat without a model (${backend})`, () => {
    let endpoint: Awaited<ReturnType<typeof startChatEndpoint>>;
    let server: TestServer;

    before(async () => {
      endpoint = await startChatEndpoint();
      server = await startTestServer(backend, { pollIntervalMs: 250, llmBaseUrl: endpoint.url });
    });
    after(async () => {
      await server.close();
      await endpoint.close();
    });

    it('fails at once, naming WEFT_LLM_MODEL, when neither it nor the step names a model', async () => {
      const step = await chat(server, {});
      assert.equal(step.status, 'failed');
      assert.equal(step.attempts, 1, 'not retried');
      assert.match(step.error.message, /set WEFT_LLM_MODEL or give input\.model/);
      assert.deepEqual(endpoint.models, [], 'nothing was sent');
    });
  });
}
