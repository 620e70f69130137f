import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import createClient from 'openapi-fetch';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import { OPERATION_IDS } from '../src/api/openapi-document.js';
import { EXECUTION_STATUSES } from '../src/engine/states.js';
import { startTestServer, type TestServer } from './helpers/api-server.js';

/**
 * `/openapi.json` as client generators and linters read it (issue 14): Redocly's recommended
 * rules find no error, every operation has a unique camelCase operationId from one table, errors
 * are declared as the problem+json the server sends, statuses and media types are complete, and
 * a client generated from it (openapi-typescript types, openapi-fetch calls) works as it comes.
 */

interface Operation {
  operationId?: string;
  tags?: string[];
  security?: unknown[];
  requestBody?: { required?: boolean };
  responses: Record<string, { $ref?: string; description?: string; content?: Record<string, unknown> }>;
}
interface Document {
  servers?: Array<{ url: string }>;
  tags?: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, { description: string; content: Record<string, unknown> }> };
}

describe('the OpenAPI document', () => {
  let server: TestServer;
  let document: Document;
  const operations = () =>
    Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, operation })),
    );

  before(async () => {
    server = await startTestServer('sqlite');
    const response = await server.request('GET', '!/openapi.json', { key: null });
    assert.equal(response.status, 200, response.text);
    document = response.body as Document;
  });
  after(async () => {
    await server.close();
  });

  it("passes Redocly's recommended rules without an error", async () => {
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintFromString({ source: JSON.stringify(document), config });
    const errors = problems.filter((problem) => problem.severity === 'error');
    assert.deepEqual(
      errors.map((problem) => `${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer}`),
      [],
    );
    // The warnings left are the open health probes, which answer no 4xx.
    const warnings = problems
      .filter((problem) => problem.severity === 'warn')
      .map((problem) => `${problem.ruleId} ${problem.location[0]?.pointer}`);
    assert.deepEqual(warnings.sort(), [
      'operation-4xx-response #/paths/~1healthz/get/responses',
      'operation-4xx-response #/paths/~1readyz/get/responses',
    ]);
  });

  it('names every operation once, in camelCase, from the one table', () => {
    const ids = operations().map(({ key, operation }) => {
      assert.ok(operation.operationId, `${key} has an operationId`);
      assert.match(operation.operationId, /^[a-z][A-Za-z]+$/, key);
      assert.equal(operation.operationId, OPERATION_IDS[key], key);
      return operation.operationId;
    });
    assert.equal(new Set(ids).size, ids.length, 'operation ids are unique');
    assert.equal(ids.length, Object.keys(OPERATION_IDS).length, 'the table names no operation that is gone');
  });

  it('declares servers, described tags, open probes and optional lifecycle bodies', () => {
    assert.deepEqual(
      document.servers?.map((entry) => entry.url),
      ['/'],
    );
    const tags = new Map(document.tags?.map((tag) => [tag.name, tag.description]));
    for (const { key, operation } of operations()) {
      for (const tag of operation.tags ?? []) assert.ok(tags.get(tag), `${key}: tag ${tag} is described`);
      for (const [status, response] of Object.entries(operation.responses)) {
        assert.notEqual(response.description, 'Default Response', `${key} ${status}`);
      }
    }
    assert.deepEqual(document.paths['/healthz']?.get?.security, []);
    assert.deepEqual(document.paths['/readyz']?.get?.security, []);
    for (const action of ['start', 'pause', 'resume', 'cancel', 'retry']) {
      assert.equal(document.paths[`/api/v1/executions/{id}/${action}`]?.post?.requestBody?.required, false, action);
    }
    assert.notEqual(document.paths['/api/v1/workflows']?.post?.requestBody?.required, false);
  });

  it('declares errors as problem+json, with 413/415 on bodies and 503 where the database is read', async () => {
    for (const [name, response] of Object.entries(document.components.responses)) {
      if (!name.startsWith('Error')) continue;
      assert.deepEqual(Object.keys(response.content), ['application/problem+json'], name);
    }
    for (const { key, operation } of operations()) {
      if (operation.requestBody) {
        assert.ok(operation.responses['413'] && operation.responses['415'], `${key} declares 413 and 415`);
      }
      if (key.includes(' /api/v1/')) assert.ok(operation.responses['503'], `${key} declares 503`);
      for (const [status, response] of Object.entries(operation.responses)) {
        if (/^[45]/.test(status) && response.content) {
          assert.ok(!('application/json' in response.content), `${key} ${status} is problem+json`);
        }
      }
    }
    // And the server sends what it declares.
    const missing = await fetch(`${server.url}/api/v1/executions/ex_none`, {
      headers: { authorization: `Bearer ${server.adminKey}` },
    });
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get('content-type') ?? '', /^application\/problem\+json/);
  });

  it('gives generated clients unions for statuses and event types', () => {
    const schemas = (document as unknown as { components: { schemas: Record<string, Record<string, unknown>> } })
      .components.schemas;
    const execution = schemas.Execution as { properties: Record<string, { enum?: string[] }> };
    assert.deepEqual(execution.properties.status?.enum, [...EXECUTION_STATUSES]);
    const text = JSON.stringify(schemas);
    // The timeline's attempt statuses (with `released` and `lost`), the event log's types.
    assert.match(
      text,
      /"enum":\["completed","failed","lost","interrupted","released","cancelled","running","waiting"\]/,
    );
    assert.match(text, /"enum":\["workflow\.started","workflow\.queued",[^\]]*"step\.skipped","step\.waiting"\]/);
  });

  it('makes a working client with openapi-typescript and openapi-fetch', async () => {
    const types = astToString(await openapiTS(document as unknown as OpenAPI3, { silent: true }));
    for (const id of ['listExecutions', 'cancelExecution', 'startWorkflowExecution', 'getLiveness']) {
      assert.match(types, new RegExp(`\\b${id}: \\{`), `the generated operations include ${id}`);
    }
    assert.match(
      types,
      /status: "pending" \| "queued" \| "running" \| "paused" \| "completed" \| "failed" \| "cancelled"/,
    );
    // The relative server entry resolves against the server's URL.
    const client = createClient<Record<string, never>>({
      baseUrl: new URL(document.servers?.[0]?.url ?? '/', server.url).toString().replace(/\/$/, ''),
      headers: { authorization: `Bearer ${server.adminKey}` },
    });
    // biome-ignore lint/suspicious/noExplicitAny: the paths type was generated as text above, not imported.
    const listed = await (client as any).GET('/api/v1/executions', { params: { query: { limit: 1 } } });
    assert.equal(listed.response.status, 200);
    assert.deepEqual(listed.data.items, []);
  });
});
