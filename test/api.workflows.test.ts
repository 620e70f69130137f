import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { STARTER_TEMPLATE_IDS } from '../src/definition/starter-templates.js';
import { assertProblem, simpleDefinition, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';

for (const backend of testBackends()) {
  describe(`workflow routes (${backend})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(() => server.close());

    it('creates a workflow at version 1 (201) and reads it back', async () => {
      const created = await server.request('POST', '/workflows', {
        body: simpleDefinition('Create me', { labels: { team: 'a' } }),
      });
      assert.equal(created.status, 201);
      assert.match(created.body.id, /^wf_/);
      assert.equal(created.body.version, 1);
      assert.equal(created.body.enabled, true);
      assert.deepEqual(created.body.labels, { team: 'a' });
      assert.equal(created.body.deleted_at, null);
      assert.equal(created.headers.get('location'), `/api/v1/workflows/${created.body.id}`);
      const read = await server.request('GET', `/workflows/${created.body.id}`);
      assert.equal(read.status, 200);
      assert.deepEqual(read.body.definition, simpleDefinition('Create me', { labels: { team: 'a' } }));
    });

    it('rejects an invalid definition with 400 and every {path, message}', async () => {
      const response = await server.request('POST', '/workflows', {
        body: {
          name: 'bad',
          steps: [
            { id: 'a', type: 'noop', depends_on: ['b'] },
            { id: 'b', type: 'noop', depends_on: ['a'] },
          ],
          extra: 1,
        },
      });
      assertProblem(response, 400, 'DEFINITION_INVALID');
      assert.deepEqual(response.body.errors, [
        { path: '/extra', message: "unknown field 'extra'" },
        { path: '/steps/0', message: 'dependency cycle: a -> b -> a (each step depends on the next)' },
      ]);
      const list = await server.request('GET', '/workflows?q=bad');
      assert.deepEqual(list.body.items, [], 'nothing was saved');
    });

    it('validates without saving', async () => {
      const valid = await server.request('POST', '/workflows/validate', { body: simpleDefinition('Only validated') });
      assert.equal(valid.status, 200);
      assert.equal(valid.body.valid, true);
      assert.deepEqual(valid.body.plan.layers, [['first'], ['second']]);
      const invalid = await server.request('POST', '/workflows/validate', {
        body: { name: 'x', steps: [{ id: 'a', type: 'nope' }] },
      });
      assert.equal(invalid.status, 200);
      assert.equal(invalid.body.valid, false);
      assert.deepEqual(invalid.body.errors, [
        { path: '/steps/0/type', message: "unknown task type 'nope' (did you mean 'noop'?)" },
      ]);
      const list = await server.request('GET', '/workflows?q=Only%20validated');
      assert.deepEqual(list.body.items, []);
    });

    it('pages through a list newest first with cursors', async () => {
      const names = Array.from({ length: 7 }, (_, index) => `Paged ${index}`);
      for (const name of names) {
        assert.equal(
          (await server.request('POST', '/workflows', { body: simpleDefinition(name, { labels: { set: 'paging' } }) }))
            .status,
          201,
        );
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `/workflows?label=set:paging&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await server.request('GET', query);
        assert.equal(page.status, 200);
        assert.ok(page.body.items.length <= 3);
        seen.push(...page.body.items.map((item: { name: string }) => item.name));
        cursor = page.body.next_cursor;
        pages += 1;
      } while (cursor);
      assert.equal(pages, Math.ceil(names.length / 3));
      assert.deepEqual(seen, [...names].reverse());
    });

    it('filters by enabled, label and name; includes deleted only on request', async () => {
      const on = await server.request('POST', '/workflows', {
        body: simpleDefinition('Filter on', { labels: { set: 'filters', kind: 'x' } }),
      });
      const off = await server.request('POST', '/workflows', {
        body: simpleDefinition('Filter off', { enabled: false, labels: { set: 'filters' } }),
      });
      const names = async (query: string) =>
        (await server.request('GET', `/workflows?label=set:filters&${query}`)).body.items.map(
          (item: { name: string }) => item.name,
        );
      assert.deepEqual(await names('enabled=true'), ['Filter on']);
      assert.deepEqual(await names('enabled=false'), ['Filter off']);
      assert.deepEqual(await names('label=kind:x'), ['Filter on']);
      assert.deepEqual(await names('q=filter%20OFF'), ['Filter off']);
      assert.equal((await server.request('DELETE', `/workflows/${off.body.id}`)).status, 204);
      assert.deepEqual(await names(''), ['Filter on']);
      assert.deepEqual(await names('include_deleted=true'), ['Filter off', 'Filter on']);
      assert.ok(on.body.id);
    });

    it('rejects bad list parameters with 400 naming the parameter', async () => {
      assertProblem(await server.request('GET', '/workflows?limit=0'), 400, 'VALIDATION_FAILED');
      const tooMany = await server.request('GET', '/workflows?limit=201');
      assert.equal(tooMany.body.errors[0].path, 'query/limit');
      const cursor = await server.request('GET', '/workflows?cursor=not-a-cursor');
      assertProblem(cursor, 400, 'VALIDATION_FAILED');
      assert.deepEqual(cursor.body.errors, [{ path: 'query/cursor', message: 'invalid cursor' }]);
      assertProblem(await server.request('GET', '/workflows?label=nocolon'), 400, 'VALIDATION_FAILED');
    });

    it('creates versions with PUT, reads them, and keeps PUT idempotent', async () => {
      const created = await server.request('POST', '/workflows', { body: simpleDefinition('Versioned') });
      const id = created.body.id;
      const v2 = await server.request('PUT', `/workflows/${id}`, { body: simpleDefinition('Versioned v2') });
      assert.equal(v2.status, 200);
      assert.equal(v2.body.version, 2);
      assert.equal(v2.body.name, 'Versioned v2');
      const again = await server.request('PUT', `/workflows/${id}`, { body: simpleDefinition('Versioned v2') });
      assert.equal(again.body.version, 2);
      const v1 = await server.request('GET', `/workflows/${id}?version=1`);
      assert.equal(v1.body.version, 1);
      assert.equal(v1.body.latest_version, 2);
      assert.equal(v1.body.definition.name, 'Versioned');
      assertProblem(await server.request('GET', `/workflows/${id}?version=3`), 404, 'NOT_FOUND');
      const versions = await server.request('GET', `/workflows/${id}/versions`);
      assert.deepEqual(
        versions.body.items.map((item: { version: number }) => item.version),
        [2, 1],
      );
      const firstPage = await server.request('GET', `/workflows/${id}/versions?limit=1`);
      const secondPage = await server.request(
        'GET',
        `/workflows/${id}/versions?limit=1&cursor=${firstPage.body.next_cursor}`,
      );
      assert.equal(secondPage.body.items[0].version, 1);
      assert.equal(secondPage.body.next_cursor, null);
      const invalid = await server.request('PUT', `/workflows/${id}`, { body: { name: 'x', steps: [] } });
      assertProblem(invalid, 400, 'DEFINITION_INVALID');
      assert.equal((await server.request('GET', `/workflows/${id}`)).body.version, 2, 'an invalid PUT changes nothing');
      assertProblem(
        await server.request('PUT', '/workflows/wf_missing', { body: simpleDefinition() }),
        404,
        'NOT_FOUND',
      );
    });

    it('patches metadata without a new version and shows it in the definition', async () => {
      const created = await server.request('POST', '/workflows', { body: simpleDefinition('Patch me') });
      const id = created.body.id;
      const patched = await server.request('PATCH', `/workflows/${id}`, {
        body: {
          name: 'Patched',
          enabled: false,
          labels: { env: 'prod' },
          description: 'now described',
          webhook_url: 'https://example.org/hook',
        },
      });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.version, 1);
      assert.equal(patched.body.name, 'Patched');
      assert.equal(patched.body.enabled, false);
      assert.equal(patched.body.definition.name, 'Patched');
      assert.equal(patched.body.definition.enabled, false);
      assert.deepEqual(patched.body.definition.labels, { env: 'prod' });
      assert.equal(patched.body.webhook_url, 'https://example.org/hook');
      const cleared = await server.request('PATCH', `/workflows/${id}`, { body: { description: null } });
      assert.equal(cleared.body.description, null);
      assert.equal('description' in cleared.body.definition, false);
      assertProblem(
        await server.request('PATCH', `/workflows/${id}`, { body: { steps: [] } }),
        400,
        'VALIDATION_FAILED',
      );
      assertProblem(await server.request('PATCH', `/workflows/${id}`, { body: {} }), 400, 'VALIDATION_FAILED');
      assertProblem(
        await server.request('PATCH', `/workflows/${id}`, { body: { enabled: 'yes' } }),
        400,
        'VALIDATION_FAILED',
      );
      assertProblem(await server.request('PATCH', '/workflows/wf_missing', { body: { name: 'x' } }), 404, 'NOT_FOUND');
    });

    it('soft-deletes: gone from reads and writes, visible with include_deleted', async () => {
      const created = await server.request('POST', '/workflows', { body: simpleDefinition('Delete me') });
      const id = created.body.id;
      assert.equal((await server.request('DELETE', `/workflows/${id}`)).status, 204);
      assertProblem(await server.request('GET', `/workflows/${id}`), 404, 'NOT_FOUND');
      assertProblem(await server.request('DELETE', `/workflows/${id}`), 404, 'NOT_FOUND');
      assertProblem(await server.request('PATCH', `/workflows/${id}`, { body: { name: 'x' } }), 404, 'NOT_FOUND');
      assertProblem(await server.request('PUT', `/workflows/${id}`, { body: simpleDefinition() }), 404, 'NOT_FOUND');
      assertProblem(await server.request('GET', `/workflows/${id}/versions`), 404, 'NOT_FOUND');
      const kept = await server.request('GET', `/workflows/${id}?include_deleted=true`);
      assert.equal(kept.status, 200);
      assert.ok(kept.body.deleted_at);
    });

    it('serves the starter templates, each creatable as a workflow', async () => {
      const templates = await server.request('GET', '/templates');
      assert.equal(templates.status, 200);
      assert.deepEqual(
        templates.body.items.map((item: { id: string }) => item.id),
        [...STARTER_TEMPLATE_IDS],
      );
      for (const template of templates.body.items) {
        const created = await server.request('POST', '/workflows', { body: template.definition });
        assert.equal(created.status, 201, `${template.id}: ${created.text}`);
      }
    });

    it('answers 413 to a body over the limit, 400 to malformed JSON, 415 to other media types', async () => {
      const huge = simpleDefinition('Huge', { description: 'x'.repeat(900), labels: { blob: 'y'.repeat(1000) } });
      const body = { ...huge, output: 'z'.repeat(server.config.bodyLimitBytes) };
      assertProblem(await server.request('POST', '/workflows', { body }), 413, 'PAYLOAD_TOO_LARGE');
      const malformed = await server.request('POST', '/workflows', {
        rawBody: '{"name": ',
        headers: { 'content-type': 'application/json' },
      });
      assertProblem(malformed, 400, 'MALFORMED_REQUEST');
      const text = await server.request('POST', '/workflows', {
        rawBody: 'name: x',
        headers: { 'content-type': 'text/plain' },
      });
      assertProblem(text, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('answers unknown routes with a problem', async () => {
      assertProblem(await server.request('GET', '/nothing-here'), 404, 'ROUTE_NOT_FOUND');
      assertProblem(await server.request('DELETE', '/nothing-here/at-all'), 404, 'ROUTE_NOT_FOUND');
    });

    it('takes an empty JSON body as no body: optional bodies pass, required ones are a 400', async () => {
      const emptyJson = (method: string, path: string) =>
        fetch(`${server.url}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
          body: '',
        });
      const created = await server.request('POST', '/workflows', { body: simpleDefinition('Empty bodies') });
      const started = await server.request('POST', `/workflows/${created.body.id}/executions`, {
        body: { start: false },
      });
      assert.equal(started.status, 202, started.text);
      const cancelled = await emptyJson('POST', `/executions/${started.body.id}/cancel`);
      assert.equal(cancelled.status, 200, await cancelled.clone().text());
      assert.equal(((await cancelled.json()) as { status: string }).status, 'cancelled');
      const deleted = await emptyJson('DELETE', `/workflows/${created.body.id}`);
      assert.ok(deleted.status === 200 || deleted.status === 204, `DELETE answered ${deleted.status}`);
      const needsBody = await emptyJson('POST', '/workspaces');
      assert.equal(needsBody.status, 400);
      assert.equal(((await needsBody.json()) as { code: string }).code, 'VALIDATION_FAILED');
    });

    it('refuses query parameters a route does not take, naming them', async () => {
      for (const path of ['/workflows?stauts=failed', '/executions?limit=5&stauts=failed']) {
        const response = await server.request('GET', path);
        assertProblem(response, 400, 'VALIDATION_FAILED');
        assert.deepEqual(response.body.errors, [{ path: 'query/stauts', message: "unknown query parameter 'stauts'" }]);
      }
      assert.equal((await server.request('GET', '/executions?limit=5&status=failed')).status, 200);
    });

    it('answers a known path with a wrong method 405, with the methods it takes in Allow', async () => {
      const list = await server.request('DELETE', '/executions');
      assertProblem(list, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(list.headers.get('allow'), 'GET, HEAD, POST');
      assert.match(list.body.detail, /\/api\/v1\/executions does not take DELETE; it takes GET, HEAD, POST/);
      const cancel = await server.request('GET', '/executions/ex_anything/cancel');
      assertProblem(cancel, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(cancel.headers.get('allow'), 'POST');
      const workflow = await server.request('POST', '/workflows/wf_anything');
      assertProblem(workflow, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(workflow.headers.get('allow'), 'DELETE, GET, HEAD, PATCH, PUT');
    });

    it('publishes OpenAPI 3.1 with every route, and interactive docs', async () => {
      const spec = await server.request('GET', '!/openapi.json', { key: null });
      assert.equal(spec.status, 200);
      assert.equal(spec.body.openapi, '3.1.0');
      for (const path of [
        '/api/v1/workflows',
        '/api/v1/workflows/{id}',
        '/api/v1/workflows/{id}/versions',
        '/api/v1/workflows/validate',
        '/api/v1/templates',
        '/api/v1/workspaces',
        '/api/v1/api-keys',
        '/api/v1/api-keys/{id}',
        '/healthz',
        '/readyz',
      ]) {
        assert.ok(spec.body.paths[path], `OpenAPI lacks ${path}`);
      }
      // Shared shapes are named once and referred to; every reference resolves.
      const workflowAnswer = spec.body.paths['/api/v1/workflows/{id}'].get.responses['200'];
      assert.deepEqual(workflowAnswer.content['application/json'].schema, { $ref: '#/components/schemas/Workflow' });
      assert.equal(spec.body.components.schemas.Workflow.title, 'Workflow');
      assert.deepEqual(spec.body.paths['/api/v1/workflows/{id}'].get.responses['404'], {
        $ref: '#/components/responses/Error404',
      });
      const refs = [...spec.text.matchAll(/"\$ref":"#\/components\/(schemas|responses)\/([^"]+)"/g)];
      assert.ok(refs.length > 50);
      for (const [, kind, name] of refs) assert.ok(spec.body.components[kind ?? ''][name ?? ''], `${kind}/${name}`);
      assert.ok(
        spec.body.paths['/api/v1/workflows'].post.requestBody,
        'the definition schema documents POST /workflows',
      );
      const docs = await server.request('GET', '!/docs/', { key: null });
      assert.equal(docs.status, 200);
      assert.match(docs.text, /swagger/i);
    });

    it('answers liveness and readiness without a key', async () => {
      assert.deepEqual((await server.request('GET', '!/healthz', { key: null })).body, { status: 'ok' });
      assert.deepEqual((await server.request('GET', '!/readyz', { key: null })).body, {
        status: 'ready',
        database: backend,
      });
    });
  });
}
