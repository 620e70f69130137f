import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { type ApiResponse, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { mutatedDefinitionArb } from './helpers/arbitraries.js';
import { testBackends } from './helpers/backends.js';
import { propertyRuns } from './helpers/property-seed.js';

/**
 * Bad input never breaks the API: random and mutated bodies, query strings and raw payloads get
 * a 2xx or a 4xx problem+json, never a 500, and the server keeps answering afterwards.
 */
function assertHandled(response: ApiResponse, what: string): void {
  assert.ok(response.status < 500, `${what} -> ${response.status} ${response.text}`);
  if (response.status >= 400) {
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/, what);
    assert.equal(response.body.status, response.status, what);
    assert.equal(typeof response.body.detail, 'string', what);
  }
}

const bodyArb = fc.oneof(fc.jsonValue({ maxDepth: 4 }), mutatedDefinitionArb);
const textArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('-1', '0', '1e400', 'NaN', 'true', '%00', '%ZZ', 'a:b'),
);

for (const backend of testBackends()) {
  describe(`API under random input (${backend})`, () => {
    let server: TestServer;
    let workflowId = '';
    before(async () => {
      server = await startTestServer(backend);
      workflowId = (await server.request('POST', '/workflows', { body: simpleDefinition('Target') })).body.id;
    });
    after(() => server.close());

    it('never answers 500 to random or mutated JSON bodies', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            'POST /workflows',
            'POST /workflows/validate',
            'PUT /workflows/:id',
            'PATCH /workflows/:id',
            'POST /api-keys',
            'POST /workspaces',
          ),
          bodyArb,
          async (route, body) => {
            const [method = 'POST', template = '/'] = route.split(' ');
            const response = await server.request(method, template.replace(':id', workflowId), { body });
            assertHandled(response, `${route} ${JSON.stringify(body).slice(0, 200)}`);
          },
        ),
        propertyRuns(150),
      );
    });

    it('never answers 500 to random task-type declarations and task calls', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            'PUT /task-types/:name',
            'POST /tasks/poll',
            'POST /tasks/:name/heartbeat',
            'POST /tasks/:name/complete',
            'POST /tasks/:name/fail',
            'POST /tasks/:name/release',
          ),
          textArb,
          fc.oneof(
            bodyArb,
            fc.record({
              worker_id: fc.string(),
              types: fc.array(fc.string()),
              wait_seconds: fc.oneof(fc.double(), fc.constant(0)),
              max_tasks: fc.integer(),
            }),
            fc.record({ input_schema: fc.jsonValue({ maxDepth: 3 }), lease_seconds: fc.integer() }),
            fc.record({ error: fc.record({ message: fc.string(), retryable: fc.jsonValue() }) }),
          ),
          async (route, name, body) => {
            const [method = 'POST', template = '/'] = route.split(' ');
            const path = template.replace(':name', encodeURIComponent(name) || 'x');
            const sent =
              body !== null && typeof body === 'object' && 'wait_seconds' in body ? { ...body, wait_seconds: 0 } : body;
            assertHandled(
              await server.request(method, path, { body: sent }),
              `${method} ${path} ${JSON.stringify(sent).slice(0, 200)}`,
            );
          },
        ),
        propertyRuns(150),
      );
    });

    it('never answers 500 to random query strings and ids', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('limit', 'cursor', 'label', 'q', 'enabled', 'include_deleted', 'version'),
          textArb,
          textArb,
          async (parameter, value, id) => {
            const query = `${parameter}=${encodeURIComponent(value)}`;
            assertHandled(await server.request('GET', `/workflows?${query}`), `GET /workflows?${query}`);
            const path = `/workflows/${encodeURIComponent(id) || 'x'}?${query}`;
            assertHandled(await server.request('GET', path), `GET ${path}`);
            assertHandled(await server.request('GET', `/workflows/${workflowId}/versions?${query}`), query);
          },
        ),
        propertyRuns(100),
      );
    });

    it('never answers 500 to raw payloads', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.string({ maxLength: 200 }),
          fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
          async (raw, type) => {
            const response = await server.request('POST', '/workflows', {
              rawBody: raw,
              headers: { 'content-type': type },
            });
            assertHandled(response, `${type}: ${raw.slice(0, 100)}`);
          },
        ),
        propertyRuns(100),
      );
      assert.deepEqual((await server.request('GET', '!/healthz', { key: null })).body, { status: 'ok' });
      assert.equal((await server.request('GET', `/workflows/${workflowId}`)).status, 200);
    });
  });
}
