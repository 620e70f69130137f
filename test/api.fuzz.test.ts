import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendRequest, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';
import { type FuzzRequest, type Operation, operationsOf, requestsOf } from './helpers/openapi-fuzz.js';
import { PROPERTY_SEED } from './helpers/property-seed.js';

/**
 * The API fuzzed from its own OpenAPI document (issue 9): every operation gets its baseline
 * request and each of its mutations (test/helpers/openapi-fuzz.ts). None may answer a 5xx, and
 * every 4xx must be problem+json with a registered code. The count is bounded by what the
 * document holds (a few thousand requests per database), and the number sent is reported.
 */

/** Requests in flight at once: enough to keep the server busy, few enough to stay in order. */
const PARALLEL = 8;

/** What is wrong with an answer, or undefined when it is acceptable. */
function problemWith(status: number, contentType: string, text: string): string | undefined {
  if (status >= 500) return `answered ${status}`;
  if (status < 400) return undefined;
  if (!/^application\/problem\+json/.test(contentType)) return `${status} as ${contentType || 'no content type'}`;
  try {
    const problem = JSON.parse(text) as { status?: unknown; code?: unknown; title?: unknown };
    if (problem.status !== status) return `${status} with body status ${String(problem.status)}`;
    if (typeof problem.code !== 'string' || typeof problem.title !== 'string') return `${status} without code or title`;
  } catch {
    return `${status} with a body that is not JSON`;
  }
  return undefined;
}

for (const backend of testBackends()) {
  describe(`API fuzz from /openapi.json (${backend})`, () => {
    let server: TestServer;
    const ids: Record<string, string> = {};
    before(async () => {
      server = await startTestServer(backend);
      const created = async (method: string, path: string, body: unknown) => {
        const response = await server.request(method, path, { body });
        assert.ok(response.status < 300, `${method} ${path}: ${response.text}`);
        return response.body;
      };
      ids.workflow = (await created('POST', '/workflows', simpleDefinition('Fuzz target'))).id;
      ids.execution = (
        await created('POST', `/workflows/${ids.workflow}/executions`, { input: { value: 1 }, start: false })
      ).id;
      ids.webhook = (await created('POST', '/webhooks', { url: 'http://127.0.0.1:9/hook' })).id;
      ids.key = (await created('POST', '/api-keys', { name: 'fuzz spare', role: 'member' })).id;
      ids.event = (await created('POST', '/events', { type: 'fuzz.event', data: {} })).event_id;
      await created('PUT', '/task-types/fuzz.type', { description: 'fuzzed' });
    });
    after(() => server.close());

    /** Real ids for path parameters, by the collection the path names. */
    const pathValue = (path: string, name: string): string | undefined => {
      const collection = path.replace('/api/v1/', '').split('/')[0];
      if (name === 'type') return 'fuzz.type';
      if (name === 'name') return 'FUZZ_SECRET';
      const byCollection: Record<string, string | undefined> = {
        workflows: ids.workflow,
        executions: ids.execution,
        webhooks: ids.webhook,
        'api-keys': ids.key,
        events: ids.event,
      };
      return collection ? byCollection[collection] : undefined;
    };

    /** Bodies that pass validation, so that mutating one field reaches that field's handling. */
    const knownBody = ({ method, path }: Operation): unknown => {
      const route = `${method} ${path.replace('/api/v1', '')}`;
      const definition = simpleDefinition('Fuzzed');
      const known: Record<string, unknown> = {
        'POST /workflows': definition,
        'POST /workflows/validate': definition,
        'PUT /workflows/{id}': definition,
        'PATCH /workflows/{id}': { description: 'fuzzed' },
        'POST /workflows/{id}/executions': { input: { value: 1 } },
        'POST /executions': { definition, input: { value: 1 } },
        'POST /workspaces': { slug: 'fuzz-workspace', name: 'Fuzz' },
        'POST /api-keys': { name: 'fuzz', role: 'member' },
        'POST /webhooks': { url: 'http://127.0.0.1:9/hook' },
        'PATCH /webhooks/{id}': { url: 'http://127.0.0.1:9/other' },
        'POST /events': { type: 'fuzz.event', data: { value: 1 } },
        'POST /tasks/poll': { worker_id: 'fuzzer', types: ['fuzz.type'], wait_seconds: 0 },
        'PUT /task-types/{type}': { description: 'fuzzed' },
        'POST /tasks/{id}/fail': { error: { message: 'fuzzed' } },
        'PUT /secrets/{name}': { value: 'fuzzed' },
      };
      return known[route];
    };

    it('answers every mutation of every operation without a 5xx, and every 4xx as problem+json', async (t) => {
      const document = (await server.request('GET', '!/openapi.json', { key: null })).body;
      const { operations, resolve } = operationsOf(document);
      assert.ok(operations.length >= 50, `only ${operations.length} operations in /openapi.json`);
      const context = { pathValue, knownBody, seed: PROPERTY_SEED };
      const requests = operations.flatMap((operation) => requestsOf(operation, resolve, context));
      const failures: string[] = [];
      const statuses = new Map<number, number>();
      const started = performance.now();
      const slowest: Array<[number, string]> = [];
      const send = async (request: FuzzRequest) => {
        const sentAt = performance.now();
        const headers = { ...request.headers, authorization: `Bearer ${server.adminKey}` };
        const response = await sendRequest(server.url, request.method, `!${request.target}`, {
          key: null,
          headers,
          rawBody: request.body,
        });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        slowest.push([performance.now() - sentAt, `${request.method} ${request.path} [${request.mutation}]`]);
        slowest.sort(([a], [b]) => b - a).splice(3);
        const problem = problemWith(response.status, response.headers.get('content-type') ?? '', response.text);
        if (problem) {
          failures.push(
            `${request.method} ${request.target.slice(0, 120)} [${request.mutation}]: ${problem}: ${response.text.slice(0, 300)}`,
          );
        }
      };
      // Operation by operation (DELETEs last), a few requests of one operation at a time.
      for (let index = 0; index < requests.length; index += PARALLEL) {
        await Promise.all(requests.slice(index, index + PARALLEL).map(send));
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const byStatus = [...statuses.entries()]
        .sort(([a], [b]) => a - b)
        .map(([status, count]) => `${status}: ${count}`);
      t.diagnostic(
        `fuzz (${backend}): ${requests.length} requests over ${operations.length} operations in ${seconds} s ` +
          `(seed ${PROPERTY_SEED}); ${byStatus.join(', ')}; slowest ` +
          slowest.map(([ms, what]) => `${what} ${ms.toFixed(0)} ms`).join(', '),
      );
      console.log(`fuzz (${backend}): ${requests.length} requests, ${operations.length} operations, ${seconds} s`);
      assert.deepEqual(failures.slice(0, 25), [], `${failures.length} bad answers (seed ${PROPERTY_SEED})`);
      const health = await server.request('GET', '!/healthz', { key: null });
      assert.deepEqual(health.body, { status: 'ok' });
    });
  });
}
