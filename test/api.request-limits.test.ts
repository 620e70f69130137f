import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type ApiResponse,
  assertProblem,
  simpleDefinition,
  startTestServer,
  type TestServer,
} from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';

/**
 * Limits every request is held to before it reaches a route or a database (SPEC §5, issue 9
 * items 9–11): text holding U+0000 or unpaired surrogates, integers beyond their range and JSON
 * nested deeper than 64 levels are a 400 naming the path, alike on both databases; the ad-hoc
 * start validates its fields like the start route.
 */

/** `levels` arrays nested in each other around `leaf`. */
function nested(levels: number, leaf: unknown = 1): unknown {
  let value: unknown = leaf;
  for (let index = 0; index < levels; index += 1) value = [value];
  return value;
}

/** `levels` objects nested under key `k`. */
function nestedObjects(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let index = 0; index < levels; index += 1) value = { k: value };
  return value;
}

/** Asserts a 400 VALIDATION_FAILED whose errors name `path`. */
function assertInvalidAt(response: ApiResponse, path: string, message: RegExp): void {
  assertProblem(response, 400, 'VALIDATION_FAILED');
  const error = (response.body.errors as Array<{ path: string; message: string }>).find((item) => item.path === path);
  assert.ok(error, `no error at ${path}: ${response.text.slice(0, 500)}`);
  assert.match(error.message, message);
}

const NUL = /U\+0000/;
const DEEP = /deeper than 64 levels/;

for (const backend of testBackends()) {
  describe(`request limits (${backend})`, () => {
    let server: TestServer;
    let workflowId = '';
    before(async () => {
      server = await startTestServer(backend);
      workflowId = (await server.request('POST', '/workflows', { body: simpleDefinition('Limits') })).body.id;
    });
    after(() => server.close());

    it('rejects U+0000 in bodies with the path, and such a label never poisons the list', async () => {
      const start = (body: unknown) => server.request('POST', `/workflows/${workflowId}/executions`, { body });
      assertInvalidAt(await start({ labels: { team: 'a\u0000b' } }), '/labels/team', NUL);
      assertInvalidAt(await start({ input: { deep: [{ text: '\u0000' }] } }), '/input/deep/0/text', NUL);
      assertInvalidAt(await start({ input: { 'key\u0000': 1 } }), '/input', NUL);
      assertInvalidAt(await start({ reference: 'ref\u0000' }), '/reference', NUL);
      assertInvalidAt(
        await server.request('POST', '/workflows', { body: simpleDefinition('nul\u0000name') }),
        '/name',
        NUL,
      );
      assertInvalidAt(
        await server.request('POST', '/events', { body: { type: 'x.y', data: { v: '\u0000' } } }),
        '/data/v',
        NUL,
      );
      // The label filter of the workspace keeps working (the row was never stored).
      const listed = await server.request('GET', '/executions?label=team:x');
      assert.equal(listed.status, 200, listed.text);
      assert.deepEqual(listed.body.items, []);
    });

    it('rejects unpaired surrogates, keeps paired ones and escaped backslashes', async () => {
      const start = (body: unknown) => server.request('POST', `/workflows/${workflowId}/executions`, { body });
      assertInvalidAt(await start({ labels: { team: '\ud800' } }), '/labels/team', NUL);
      assertInvalidAt(await start({ labels: { team: 'x\udc00' } }), '/labels/team', NUL);
      const fine = await start({ labels: { team: '😀', raw: '\\u0000' }, input: { value: 1 } });
      assert.equal(fine.status, 202, fine.text);
      const listed = await server.request('GET', `/executions?label=${encodeURIComponent('team:😀')}`);
      assert.equal(listed.status, 200, listed.text);
      assert.deepEqual(
        listed.body.items.map((item: { id: string }) => item.id),
        [fine.body.id],
      );
      assert.equal(listed.body.items[0].labels.raw, '\\u0000');
    });

    it('rejects U+0000 in query strings and path parameters', async () => {
      assertInvalidAt(await server.request('GET', '/executions?label=team:a%00b'), 'query/label', NUL);
      assertInvalidAt(await server.request('GET', '/workflows?q=%00'), 'query/q', NUL);
      assertInvalidAt(await server.request('GET', '/executions?reference=%ED%A0%80'), 'query/reference', NUL);
      assertInvalidAt(await server.request('GET', '/workflows/wf%00'), 'params/id', NUL);
      assertInvalidAt(await server.request('GET', '/task-types/a%00'), 'params/type', NUL);
      assertInvalidAt(await server.request('POST', '/tasks/t%00/heartbeat', { body: {} }), 'params/id', NUL);
    });

    it('rejects integers beyond their range in queries and bodies', async () => {
      assertInvalidAt(
        await server.request('GET', `/workflows/${workflowId}?version=99999999999999999999`),
        'query/version',
        /must be <=/,
      );
      assertInvalidAt(
        await server.request('POST', `/workflows/${workflowId}/executions`, { body: { version: 2 ** 53 + 2 } }),
        '/version',
        /must be <=/,
      );
      assertInvalidAt(await server.request('GET', '/workflows?limit=1e400'), 'query/limit', /must be/);
      // The largest version the API takes is a plain 404, not a database error.
      assertProblem(
        await server.request('POST', `/workflows/${workflowId}/executions`, { body: { version: 2 ** 31 - 1 } }),
        404,
        'NOT_FOUND',
      );
      assertProblem(await server.request('GET', `/workflows/${workflowId}?version=2147483647`), 404, 'NOT_FOUND');
    });

    it('accepts bodies nested 64 levels and rejects 65 with the path where the limit was passed', async () => {
      const start = (input: unknown) =>
        server.request('POST', `/workflows/${workflowId}/executions`, { body: { input } });
      // The body object is level 1, so its `input` may hold 63 more levels.
      const fits = await start(nested(63));
      assert.equal(fits.status, 202, fits.text);
      const deep = await start(nested(64));
      assertInvalidAt(deep, `/input${'/0'.repeat(63)}`, DEEP);
      assert.match(deep.body.detail, DEEP);
      assertInvalidAt(await start(nestedObjects(64)), `/input${'/k'.repeat(63)}`, DEEP);
    });

    it('answers 400 to bodies about 5,000 deep on every kind of route', async () => {
      // Sent as text: JSON.stringify itself would exhaust the stack on the deepest of these.
      const deepArrays = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
      const deepNot = `${'{"not":'.repeat(10_000)}{}${'}'.repeat(10_000)}`;
      const deepItems = `${'{"items":'.repeat(800)}{}${'}'.repeat(800)}`;
      const DEEP_VALUE = '"__deep__"';
      const cases: Array<[string, string, unknown, string, string?]> = [
        ['POST', '/workflows', { ...simpleDefinition('Deep'), output: '__deep__' }, '/output'],
        [
          'POST',
          '/workflows/validate',
          { ...simpleDefinition('Deep'), steps: [{ id: 'a', type: 'noop', input: '__deep__' }] },
          '/steps/0/input',
        ],
        ['POST', `/workflows/${workflowId}/executions`, { input: '__deep__' }, '/input'],
        ['PATCH', `/workflows/${workflowId}`, { labels: { a: '__deep__' } }, '/labels/a'],
        ['POST', '/events', { type: 'deep.event', data: '__deep__' }, '/data'],
        ['POST', '/executions', { definition: simpleDefinition('Deep'), input: '__deep__' }, '/input'],
        ['PUT', '/task-types/deep.type', { input_schema: '__deep__' }, '/input_schema', deepNot],
        ['PUT', '/task-types/deep.items', { input_schema: '__deep__' }, '/input_schema', deepItems],
        ['POST', '/tasks/x/complete', { output: '__deep__' }, '/output'],
      ];
      for (const [method, path, body, prefix, deep = deepArrays] of cases) {
        const response = await server.request(method, path, {
          rawBody: JSON.stringify(body).replace(DEEP_VALUE, deep),
          headers: { 'content-type': 'application/json' },
        });
        assertProblem(response, 400, 'VALIDATION_FAILED');
        const [error] = response.body.errors;
        assert.ok(error.path.startsWith(prefix), `${method} ${path}: ${error.path}`);
        assert.match(error.message, DEEP);
      }
    });

    it('answers schemas of another dialect with 400 on every route that takes one', async () => {
      const draft4 = { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' };
      const adhoc = { name: 'd4', input_schema: draft4, steps: [{ id: 'a', type: 'noop' }] };
      const cases: Array<[string, string, unknown, string, string]> = [
        ['POST', '/workflows', adhoc, 'DEFINITION_INVALID', '/input_schema/$schema'],
        ['POST', '/executions', { definition: adhoc }, 'DEFINITION_INVALID', '/definition/input_schema/$schema'],
        ['PUT', '/task-types/d4.in', { input_schema: draft4 }, 'VALIDATION_FAILED', '/input_schema/$schema'],
        ['PUT', '/task-types/d4.out', { output_schema: draft4 }, 'VALIDATION_FAILED', '/output_schema/$schema'],
      ];
      for (const [method, path, body, code, at] of cases) {
        const response = await server.request(method, path, { body });
        assertProblem(response, 400, code);
        assert.equal(response.body.errors[0].path, at, `${method} ${path}`);
        assert.match(response.body.errors[0].message, /2020-12/);
      }
    });

    it('rejects a body limit full of nesting quickly, and keeps answering', async () => {
      const levels = Math.floor(server.config.bodyLimitBytes / 2) - 10;
      const started = performance.now();
      const response = await server.request('POST', '/events', {
        rawBody: `${'['.repeat(levels)}${']'.repeat(levels)}`,
        headers: { 'content-type': 'application/json' },
      });
      const elapsed = performance.now() - started;
      assertProblem(response, 400, 'VALIDATION_FAILED');
      assert.equal(response.body.errors[0].path, '/0'.repeat(64));
      assert.ok(elapsed < 2000, `took ${elapsed} ms`);
      assert.deepEqual((await server.request('GET', '!/healthz', { key: null })).body, { status: 'ok' });
    });
  });

  describe(`ad-hoc executions validate like the start route (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(() => server.close());
    const definition = { name: 'adhoc', steps: [{ id: 'a', type: 'noop' }] };
    const adhoc = (fields: Record<string, unknown>) =>
      server.request('POST', '/executions', { body: { definition, ...fields } });

    it('rejects bad labels, references, webhook URLs, start flags and unknown fields with their paths', async () => {
      assertInvalidAt(await adhoc({ labels: 'abc' }), '/labels', /must be object/);
      assertInvalidAt(
        await adhoc({ labels: { big: 'x'.repeat(1001) } }),
        '/labels/big',
        /must NOT have more than 1000/,
      );
      assertInvalidAt(await adhoc({ labels: { ['k'.repeat(101)]: 'v' } }), '/labels', /must NOT have more than 100/);
      const many = Object.fromEntries(Array.from({ length: 65 }, (_, index) => [`k${index}`, 'v']));
      assertInvalidAt(await adhoc({ labels: many }), '/labels', /must NOT have more than 64/);
      assertInvalidAt(await adhoc({ webhook_url: 'gopher://example.com/x' }), '/webhook_url', /must match pattern/);
      assertInvalidAt(await adhoc({ start: 'yes' }), '/start', /must be boolean/);
      assertInvalidAt(await adhoc({ reference: '' }), '/reference', /must NOT have fewer than 1/);
      assertInvalidAt(await adhoc({ reference: 'r'.repeat(256) }), '/reference', /must NOT have more than 255/);
      assertInvalidAt(await adhoc({ version: 1 }), '/version', /unknown field/);
      assertInvalidAt(await adhoc({ idempotency_key: 5 }), '/idempotency_key', /must be string/);
      assertInvalidAt(await server.request('POST', '/executions', { body: { input: {} } }), '/definition', /required/);
      // Nothing of the above was stored.
      const listed = await server.request('GET', '/executions');
      assert.deepEqual(listed.body.items, []);
    });

    it('reports field and definition errors together', async () => {
      const response = await server.request('POST', '/executions', {
        body: { definition: { name: 'bad', steps: [{ id: 'a', type: 'no.such.type' }] }, labels: 'abc' },
      });
      assertProblem(response, 400, 'DEFINITION_INVALID');
      const paths = response.body.errors.map((error: { path: string }) => error.path);
      assert.ok(paths.includes('/labels'), paths.join(', '));
      assert.ok(
        paths.some((path: string) => path.startsWith('/definition/steps/0')),
        paths.join(', '),
      );
    });

    it('stores valid labels, reference, webhook URL and start flag', async () => {
      const response = await adhoc({
        labels: { team: 'core' },
        reference: 'order-1',
        webhook_url: 'https://example.com/hook',
        start: false,
        input: { a: 1 },
      });
      assert.equal(response.status, 202, response.text);
      assert.equal(response.body.status, 'pending');
      assert.deepEqual(response.body.labels, { team: 'core' });
      assert.equal(response.body.reference, 'order-1');
      assert.equal(response.body.webhook_url, 'https://example.com/hook');
    });
  });
}
