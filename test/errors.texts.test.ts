import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { excerptOf } from '../src/egress/response-excerpt.js';
import { SecretRedactor } from '../src/secrets/secret-redaction.js';
import { assertProblem, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { type FixtureServer, runAdhoc, startFixtureServer, stepOf, waitForExecution } from './helpers/http-fixtures.js';

/**
 * Errors that say enough to act on (issue 14, items 13 and 14): an `http` failure keeps the
 * first 2 KiB of the answer, secrets redacted even where the cut splits one; a JSONata syntax
 * error in a transform is a 400 at its path on create, PUT and validate; a transform reading a
 * field its literal data lacks is a warning, never an error.
 */

const KiB = 1024;
const TOKEN = 'tok-0123456789-abcdefghij';

describe('body excerpts and the secrets in them', () => {
  it('cuts at 2 KiB before a character that straddles the cut, marking it truncated', () => {
    const text = `${'a'.repeat(2047)}é${'b'.repeat(3000)}`;
    assert.deepEqual(excerptOf(Buffer.from(text)), { body: 'a'.repeat(2047), body_truncated: true });
    assert.deepEqual(excerptOf(Buffer.from('short é')), { body: 'short é', body_truncated: false });
    const exact = 'c'.repeat(2048);
    assert.deepEqual(excerptOf(Buffer.from(exact)), { body: exact, body_truncated: false });
  });

  it('redacts a secret whose start is left at the end of a truncated body', () => {
    const redactor = new SecretRedactor(new Map([['TOKEN', TOKEN]]));
    const cut = {
      message: 'm',
      retryable: true,
      details: { body: `x${TOKEN}y${TOKEN.slice(0, 6)}`, body_truncated: true },
    };
    assert.deepEqual(redactor.error(cut).details, { body: 'x[redacted:TOKEN]y[redacted:TOKEN]', body_truncated: true });
    // A whole body may end with what happens to begin a secret: nothing was cut, nothing is hidden.
    const whole = { ...cut, details: { body: 'ends with tok', body_truncated: false } };
    assert.deepEqual(redactor.error(whole).details, whole.details);
  });
});

for (const backend of testBackends()) {
  describe(`error texts (${backend})`, () => {
    let server: TestServer;
    let upstream: FixtureServer;

    before(async () => {
      server = await startTestServer(backend, { pollIntervalMs: 250 });
      upstream = await startFixtureServer(({ path, raw }) => {
        const token = (raw.headers.authorization ?? '').replace('Bearer ', '');
        if (path === '/broken') return { status: 500, text: `${'a'.repeat(2047)}é${'b'.repeat(5 * KiB - 2049)}` };
        if (path === '/echo') {
          // The token whole near the start, then again across the 2 KiB cut (its first 8 characters kept).
          const head = `x${token}`;
          return { status: 403, text: `${head}${'y'.repeat(2040 - head.length)}${token}${'z'.repeat(3000)}` };
        }
        // Answers once the client gives up (the step's timeout aborts the request).
        if (path === '/hang') return new Promise((resolve) => raw.socket.once('close', () => resolve({ status: 504 })));
        return { status: 404, text: 'no such thing' };
      });
    });
    after(async () => {
      await server.close();
      await upstream.close();
    });

    it('an http step answered 500 with 5 KiB keeps the status and the first 2 KiB, marked truncated', async () => {
      const id = await runAdhoc(server, {
        name: 'broken upstream',
        steps: [
          {
            id: 'call',
            type: 'http',
            input: { url: `${upstream.url}/broken` },
            retry: { max_attempts: 2, delay_ms: 10 },
          },
        ],
      });
      const execution = await waitForExecution(server, id, ['failed']);
      const step = stepOf(execution, 'call');
      assert.equal(step.attempts, 2, 'a 500 is retried');
      assert.match(step.error.message, /^http: GET http:\/\/127\.0\.0\.1:\d+\/broken answered 500$/);
      assert.equal(step.error.retryable, true);
      assert.deepEqual(step.error.details, { status: 500, body: 'a'.repeat(2047), body_truncated: true });
      assert.deepEqual(execution.error.cause, step.error, 'the execution error carries the step error');
      const notFound = await runAdhoc(server, {
        name: 'missing',
        steps: [{ id: 'call', type: 'http', input: { url: `${upstream.url}/nothing` } }],
      });
      const missing = stepOf(await waitForExecution(server, notFound, ['failed']), 'call');
      assert.equal(missing.error.retryable, false);
      assert.deepEqual(missing.error.details, { status: 404, body: 'no such thing', body_truncated: false });
    });

    it('a secret the failed answer echoes is redacted, also where the cut splits it', async () => {
      const put = await server.request('PUT', '/secrets/TOKEN', { body: { value: TOKEN } });
      assert.ok(put.status < 300, put.text);
      const id = await runAdhoc(server, {
        name: 'echoing upstream',
        steps: [
          {
            id: 'call',
            type: 'http',
            input: { url: `${upstream.url}/echo`, headers: { authorization: 'Bearer {{ secrets.TOKEN }}' } },
          },
        ],
      });
      const execution = await waitForExecution(server, id, ['failed']);
      const text = JSON.stringify(execution);
      assert.ok(!text.includes(TOKEN.slice(0, 6)), `no part of the secret is shown: ${text.slice(0, 300)}`);
      const { body, body_truncated } = stepOf(execution, 'call').error.details;
      assert.equal(body_truncated, true);
      assert.equal(body, `x[redacted:TOKEN]${'y'.repeat(2040 - 1 - TOKEN.length)}[redacted:TOKEN]`);
    });

    it('a JSONata syntax error in a transform is a 400 at its path on create and PUT, and invalid on validate', async () => {
      const definition = {
        name: 'bad transform',
        steps: [
          { id: 'a', type: 'noop' },
          { id: 'b', type: 'noop' },
          { id: 'shape', type: 'transform', input: { expression: '$ * (2', data: 21 } },
        ],
      };
      const path = '/steps/2/input/expression';
      const message = /^expression syntax error at character \d+: JSONata: .+/;
      const created = await server.request('POST', '/workflows', { body: definition });
      assertProblem(created, 400, 'DEFINITION_INVALID');
      assert.deepEqual(
        created.body.errors.map((error: { path: string }) => error.path),
        [path],
      );
      assert.match(created.body.errors[0].message, message);
      const validated = await server.request('POST', '/workflows/validate', { body: definition });
      assert.equal(validated.status, 200);
      assert.equal(validated.body.valid, false);
      assert.equal(validated.body.errors[0].path, path);
      assert.match(validated.body.errors[0].message, message);
      const good = await server.request('POST', '/workflows', {
        body: { ...definition, steps: [definition.steps[0]] },
      });
      assert.equal(good.status, 201, good.text);
      const put = await server.request('PUT', `/workflows/${good.body.id}`, { body: definition });
      assertProblem(put, 400, 'DEFINITION_INVALID');
      assert.equal(put.body.errors[0].path, path);
    });

    it('warns of a transform reading a field its literal data lacks: on validate, create and PUT, never failing', async () => {
      const transform = (input: Record<string, unknown>) => ({
        name: 'transform',
        steps: [
          { id: 'first', type: 'noop' },
          { id: 'double', type: 'transform', input },
        ],
      });
      const warned = await server.request('POST', '/workflows/validate', {
        body: transform({ expression: 'data * 2', data: 21 }),
      });
      assert.equal(warned.body.valid, true);
      assert.equal(warned.body.warnings.length, 1, warned.text);
      assert.equal(warned.body.warnings[0].path, '/steps/1/input/expression');
      assert.match(warned.body.warnings[0].message, /'data' is not a field of input\.data.*the data is \$/);
      for (const fine of [
        { expression: '$ * 2', data: 21 },
        { expression: 'price * qty', data: { price: 2, qty: 3 } },
        { expression: 'x * 2', data: '{{ steps.first.output }}' },
      ]) {
        const quiet = await server.request('POST', '/workflows/validate', { body: transform(fine) });
        assert.deepEqual([quiet.body.valid, quiet.body.warnings], [true, []], JSON.stringify(fine));
      }
      const created = await server.request('POST', '/workflows', {
        body: transform({ expression: 'data * 2', data: 21 }),
      });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.body.warnings, warned.body.warnings);
      const put = await server.request('PUT', `/workflows/${created.body.id}`, {
        body: transform({ expression: '$ * 2', data: 21 }),
      });
      assert.equal(put.status, 200, put.text);
      assert.deepEqual(put.body.warnings, []);
    });

    it('a step timeout says after how long', async () => {
      const id = await runAdhoc(server, {
        name: 'slow upstream',
        steps: [
          {
            id: 'call',
            type: 'http',
            input: { url: `${upstream.url}/hang` },
            timeout_seconds: 0.2,
            retry: { max_attempts: 1 },
          },
        ],
      });
      const execution = await waitForExecution(server, id, ['failed']);
      assert.equal(execution.error.message, "step 'call' failed: timed out after 0.2 s");
    });
  });
}
