import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_SCHEMA_BYTES, MAX_SCHEMA_WEIGHT } from '../src/definition/json-schema.js';
import { assertProblem, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { typicalHealthz } from './helpers/loop-latency.js';

/**
 * Input schemas (issue 9, item 2): no `input_schema` can hold the event loop, neither when it is
 * compiled nor when an input is validated against it. Patterns run in linear time, uniqueItems is
 * hashed, schemas have size and weight caps and one dialect, and costly validations run off-loop.
 */

const EVIL = '^(a+)+$';

for (const backend of testBackends()) {
  describe(`input_schema limits (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(() => server.close());

    async function createWorkflow(name: string, inputSchema: unknown) {
      return server.request('POST', '/workflows', {
        body: { name, input_schema: inputSchema, steps: [{ id: 'a', type: 'noop' }] },
      });
    }

    async function start(workflowId: string, input: unknown) {
      return server.request('POST', `/workflows/${workflowId}/executions`, { body: { input } });
    }

    it('matches a catastrophic pattern in linear time', async () => {
      const created = await createWorkflow('evil pattern', {
        type: 'object',
        properties: { s: { type: 'string', pattern: EVIL } },
      });
      assert.equal(created.status, 201, created.text);
      // A backtracking engine took 20.7 s on this 31-byte string.
      const started = performance.now();
      const refused = await start(created.body.id, { s: `${'a'.repeat(29)}!` });
      const elapsed = performance.now() - started;
      assertProblem(refused, 400, 'VALIDATION_FAILED');
      assert.equal(refused.body.errors[0].path, '/input/s');
      assert.ok(elapsed < 2000, `validation took ${elapsed.toFixed(0)} ms`);
      const accepted = await start(created.body.id, { s: 'a'.repeat(29) });
      assert.equal(accepted.status, 202, accepted.text);
    });

    it('checks uniqueItems over 20,000 objects quickly, and still finds a duplicate', async () => {
      const created = await createWorkflow('unique items', {
        type: 'object',
        properties: { list: { type: 'array', uniqueItems: true } },
      });
      assert.equal(created.status, 201, created.text);
      const list = Array.from({ length: 20_000 }, (_, index) => ({ id: index, tags: ['x', index % 7] }));
      const started = performance.now();
      const accepted = await start(created.body.id, { list });
      const elapsed = performance.now() - started;
      assert.equal(accepted.status, 202, accepted.text);
      // Ajv's pairwise check took 74.8 s here.
      assert.ok(elapsed < 5000, `validation took ${elapsed.toFixed(0)} ms`);
      // Key order does not make two objects different.
      const duplicated = [...list.slice(0, 100), { tags: ['x', 3], id: 10 }];
      const refused = await start(created.body.id, { list: duplicated });
      assertProblem(refused, 400, 'VALIDATION_FAILED');
      assert.equal(refused.body.errors[0].path, '/input/list');
      assert.match(refused.body.errors[0].message, /duplicate/);
    });

    it('refuses a schema too big or too heavy to compile, naming the limit', async () => {
      const started = performance.now();
      // allOf of 2,000 patterns took 10 s to compile; refusing it must not compile it.
      const big = await createWorkflow('big', {
        allOf: Array.from({ length: 2000 }, (_, index) => ({ pattern: `^a{${index}}` })),
      });
      assertProblem(big, 400, 'DEFINITION_INVALID');
      assert.equal(big.body.errors[0].path, '/input_schema');
      assert.match(big.body.errors[0].message, new RegExp(`at most ${MAX_SCHEMA_BYTES} are allowed`));
      const heavy = await createWorkflow('heavy', { allOf: Array.from({ length: 500 }, () => ({ pattern: '^a' })) });
      assertProblem(heavy, 400, 'DEFINITION_INVALID');
      assert.equal(heavy.body.errors[0].path, '/input_schema');
      assert.match(heavy.body.errors[0].message, new RegExp(`at most ${MAX_SCHEMA_WEIGHT} is allowed`));
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 2000, `refusing took ${elapsed.toFixed(0)} ms`);
    });

    it('refuses other dialects and patterns that cannot run in linear time, at their paths', async () => {
      const draft4 = await createWorkflow('draft 4', { $schema: 'http://json-schema.org/draft-04/schema#' });
      assertProblem(draft4, 400, 'DEFINITION_INVALID');
      assert.equal(draft4.body.errors[0].path, '/input_schema/$schema');
      assert.match(draft4.body.errors[0].message, /2020-12/);
      const nested = await createWorkflow('nested draft 7', {
        type: 'object',
        properties: { a: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'string' } },
      });
      assertProblem(nested, 400, 'DEFINITION_INVALID');
      assert.equal(nested.body.errors[0].path, '/input_schema/properties/a/$schema');
      const modern = await createWorkflow('2020-12', { $schema: 'https://json-schema.org/draft/2020-12/schema' });
      assert.equal(modern.status, 201, modern.text);
      const backreference = await createWorkflow('backreference', {
        type: 'object',
        properties: { s: { type: 'string', pattern: '^(a)\\1$' } },
      });
      assertProblem(backreference, 400, 'DEFINITION_INVALID');
      assert.match(backreference.body.errors[0].path, /^\/input_schema/);
      assert.match(backreference.body.errors[0].message, /linear time/);
    });

    it('validates a costly input off the event loop: /healthz answers meanwhile', async () => {
      // Near the weight cap: 60 properties with a pattern each, every one applying to every value.
      const properties = Object.fromEntries(
        Array.from({ length: 60 }, (_, index) => [`p${index}`, { type: 'string', pattern: `^[a-z]*${index % 10}?$` }]),
      );
      const created = await createWorkflow('costly', {
        type: 'object',
        properties: { rows: { type: 'array', items: { type: 'object', properties } } },
      });
      assert.equal(created.status, 201, created.text);
      const row = Object.fromEntries(Array.from({ length: 60 }, (_, index) => [`p${index}`, 'ab']));
      const rows = Array.from({ length: 1200 }, () => row);
      const answered = start(created.body.id, { rows });
      const typical = await typicalHealthz(server, answered);
      const response = await answered;
      assert.equal(response.status, 202, response.text);
      assert.ok(
        typical.p90 < typical.bound,
        `90% of ${typical.count} /healthz answers took under ${typical.p90.toFixed(1)} ms (bound ${typical.bound.toFixed(0)})`,
      );
      const bad = start(created.body.id, { rows: [...rows, { p1: 'NOPE' }] });
      const refused = await bad;
      assertProblem(refused, 400, 'VALIDATION_FAILED');
      assert.equal(refused.body.errors[0].path, '/input/rows/1200/p1');
    });
  });
}
