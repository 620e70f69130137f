import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { buildServer } from '../src/api/server.js';
import { generateApiKey } from '../src/auth/api-key-secrets.js';
import { bootstrapWorkspace } from '../src/auth/bootstrap.js';
import { loadConfig } from '../src/config.js';
import { engineFromConfig } from '../src/engine/engine-from-config.js';
import { createLogger } from '../src/logger.js';
import { createClient, WeftApiError } from '../src/sdk/index.js';
import { SecretVault } from '../src/secrets/secret-vault.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';
import { assertProblem, createKey, startTestServer, type TestServer } from './helpers/api-server.js';
import { createTestDatabase, testBackends } from './helpers/backends.js';
import { type FixtureServer, runAdhoc, startFixtureServer, stepOf, waitForExecution } from './helpers/http-fixtures.js';

/**
 * Workspace secrets (issue 9 item 6): values are write-only, read by templates as
 * `{{ secrets.NAME }}` in step inputs only, handed to the task (the http request, the external
 * worker) and shown nowhere else: not in execution views, timelines, events or the step rows.
 */

/** Every API answer about an execution, as text: none may hold a secret value. */
async function executionAnswers(server: TestServer, id: string): Promise<string> {
  const paths = [`/executions/${id}`, `/executions/${id}/timeline`, `/executions/${id}/events?limit=200`];
  const answers = await Promise.all(paths.map((path) => server.request('GET', path)));
  for (const answer of answers) assert.equal(answer.status, 200, answer.text);
  return answers.map((answer) => answer.text).join('\n');
}

/** What the database holds about an execution's steps, attempts and events, as text. */
async function storedRows(server: TestServer, id: string): Promise<string> {
  const steps = await server.store.steps.list(id);
  const attempts = await server.store.executionLog.attempts(id);
  const events = await server.store.executionLog.events(id, { limit: 200 });
  return JSON.stringify({ steps, attempts, events });
}

for (const backend of testBackends()) {
  describe(`workspace secrets (${backend})`, () => {
    let server: TestServer;
    let echo: FixtureServer;
    const token = `tok_${randomBytes(12).toString('hex')}`;
    const authorizations: string[] = [];

    before(async () => {
      server = await startTestServer(backend);
      // Echoes the request's authorization header, as a careless API might in an error body.
      echo = await startFixtureServer(({ raw }) => {
        authorizations.push(raw.headers.authorization ?? '');
        return { json: { seen: raw.headers.authorization ?? null } };
      });
    });
    after(async () => {
      await echo.close();
      await server.close();
    });

    it('creates, replaces, lists, reads and deletes a secret without ever returning its value', async () => {
      const value = `v_${randomBytes(8).toString('hex')}`;
      const created = await server.request('PUT', '/secrets/CRUD_ONE', { body: { value } });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(Object.keys(created.body).sort(), ['created_at', 'encrypted', 'name', 'updated_at']);
      assert.equal(created.body.name, 'CRUD_ONE');
      assert.equal(created.body.encrypted, false);

      const replaced = await server.request('PUT', '/secrets/CRUD_ONE', { body: { value: `${value}-2` } });
      assert.equal(replaced.status, 200, replaced.text);
      assert.equal(replaced.body.created_at, created.body.created_at);
      assert.ok(replaced.body.updated_at >= created.body.updated_at);

      const list = await server.request('GET', '/secrets');
      assert.equal(list.status, 200);
      assert.ok(list.body.items.some((item: { name: string }) => item.name === 'CRUD_ONE'));
      const one = await server.request('GET', '/secrets/CRUD_ONE');
      assert.equal(one.status, 200);
      for (const answer of [created, replaced, list, one]) assert.equal(answer.text.includes(value), false);

      assert.equal((await server.request('DELETE', '/secrets/CRUD_ONE')).status, 204);
      assertProblem(await server.request('GET', '/secrets/CRUD_ONE'), 404, 'NOT_FOUND');
      assertProblem(await server.request('DELETE', '/secrets/CRUD_ONE'), 404, 'NOT_FOUND');
    });

    it('has SDK calls for secrets that never return the value', async () => {
      const client = createClient({ baseUrl: server.url, apiKey: server.adminKey });
      const put = await client.secrets.put('SDK_ONE', 'sdk-secret-value');
      assert.equal(put.name, 'SDK_ONE');
      assert.equal(JSON.stringify(put).includes('sdk-secret-value'), false);
      assert.equal((await client.secrets.get('SDK_ONE')).name, 'SDK_ONE');
      assert.ok((await client.secrets.list()).items.some((item) => item.name === 'SDK_ONE'));
      await client.secrets.delete('SDK_ONE');
      await assert.rejects(
        client.secrets.get('SDK_ONE'),
        (error) => error instanceof WeftApiError && error.status === 404,
      );
    });

    it('checks names and sizes, lets only admins write, and keeps workspaces apart', async () => {
      const badName = await server.request('PUT', '/secrets/9lives', { body: { value: 'x' } });
      assertProblem(badName, 400, 'VALIDATION_FAILED');
      assert.ok(badName.body.errors.some((error: { path: string }) => error.path.startsWith('params/name')));
      const tooBig = await server.request('PUT', '/secrets/BIG', { body: { value: 'é'.repeat(40_000) } });
      assertProblem(tooBig, 400, 'VALIDATION_FAILED');
      assert.deepEqual(
        tooBig.body.errors.map((error: { path: string }) => error.path),
        ['/value'],
      );
      assert.equal((await server.request('PUT', '/secrets/BIG', { body: { value: 'a'.repeat(65_536) } })).status, 201);

      const member = await createKey(server, 'member');
      assertProblem(
        await server.request('PUT', '/secrets/BY_MEMBER', { key: member, body: { value: 'x' } }),
        403,
        'FORBIDDEN',
      );
      assertProblem(await server.request('DELETE', '/secrets/BIG', { key: member }), 403, 'FORBIDDEN');
      assert.equal((await server.request('GET', '/secrets/BIG', { key: member })).status, 200);

      const other = await server.request('POST', '/workspaces', { body: { slug: 'secrets-other', name: 'Other' } });
      assert.equal(other.status, 201, other.text);
      const otherAdmin = await createKey(server, 'admin', other.body.id);
      assertProblem(await server.request('GET', '/secrets/BIG', { key: otherAdmin }), 404, 'NOT_FOUND');
      assertProblem(await server.request('DELETE', '/secrets/BIG', { key: otherAdmin }), 404, 'NOT_FOUND');
      assert.equal((await server.request('GET', '/secrets', { key: otherAdmin })).body.items.length, 0);
      const theirs = await server.request('PUT', '/secrets/BIG', { key: otherAdmin, body: { value: 'theirs' } });
      assert.equal(theirs.status, 201, 'the same name in another workspace is another secret');
      assert.equal((await server.request('GET', '/secrets/BIG')).body.created_at < theirs.body.created_at, true);
    });

    it('sends the value with an http step and shows [redacted:TOKEN] everywhere else', async () => {
      assert.equal((await server.request('PUT', '/secrets/TOKEN', { body: { value: token } })).status, 201);
      const id = await runAdhoc(server, {
        name: 'call with a token',
        steps: [
          {
            id: 'call',
            type: 'http',
            input: { url: `${echo.url}/private`, headers: { Authorization: 'Bearer {{ secrets.TOKEN }}' } },
          },
          { id: 'next', type: 'noop', input: { previous: '{{ steps.call.output }}' } },
        ],
        output: { answer: '{{ steps.call.output }}' },
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'completed', JSON.stringify(execution));
      assert.deepEqual(authorizations, [`Bearer ${token}`], 'the server received the real value');
      // It echoed the header back: the output holds the marker instead.
      assert.equal(
        JSON.stringify(execution).includes('"seen":"Bearer [redacted:TOKEN]"'),
        true,
        JSON.stringify(execution),
      );
      const call = stepOf(execution, 'call') as unknown as { input: { headers: Record<string, string> } };
      assert.equal(call.input.headers.Authorization, 'Bearer [redacted:TOKEN]');

      const answers = await executionAnswers(server, id);
      assert.equal(answers.includes(token), false, 'no API answer holds the value');
      assert.match(answers, /\[redacted:TOKEN\]/);
      assert.equal((await storedRows(server, id)).includes(token), false, 'no step, attempt or event row holds it');
    });

    it('hands an external worker the resolved input and records it redacted', async () => {
      const worker = await createKey(server, 'worker');
      await server.request('PUT', '/task-types/secret.use', { key: worker, body: { description: 'Uses a token' } });
      const id = await runAdhoc(server, {
        name: 'worker with a token',
        steps: [{ id: 'use', type: 'secret.use', input: { auth: 'Bearer {{ secrets.TOKEN }}' } }],
      });
      const poll = await server.request('POST', '/tasks/poll', {
        key: worker,
        body: { worker_id: 'w-secrets', types: ['secret.use'], wait_seconds: 5 },
      });
      assert.equal(poll.status, 200, poll.text);
      const task = poll.body.tasks[0];
      assert.ok(task, poll.text);
      assert.equal(task.input.auth, `Bearer ${token}`, 'the worker needs the value');
      const done = await server.request('POST', `/tasks/${task.id}/complete`, {
        key: worker,
        body: { output: { echoed: task.input.auth } },
      });
      assert.equal(done.status, 200, done.text);
      const execution = await waitForExecution(server, id, ['completed']);
      assert.deepEqual(stepOf(execution, 'use').output, { echoed: 'Bearer [redacted:TOKEN]' });
      assert.equal((await executionAnswers(server, id)).includes(token), false);
      assert.equal((await storedRows(server, id)).includes(token), false);
    });

    it('fails an attempt naming a missing secret with SECRET_MISSING, without retry', async () => {
      const id = await runAdhoc(server, {
        name: 'missing secret',
        steps: [
          {
            id: 'call',
            type: 'noop',
            retry: { max_attempts: 3, delay_ms: 0 },
            input: { key: '{{ secrets.NOT_THERE }}' },
          },
        ],
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(execution.status, 'failed');
      const step = stepOf(execution, 'call');
      assert.equal(step.attempts, 1, 'no retry');
      assert.equal(step.error.code, 'SECRET_MISSING');
      assert.equal(step.error.retryable, false);
      assert.match(step.error.message, /NOT_THERE/);
    });

    it('rejects secrets outside step input at validation, at the path', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ when: '{{ secrets.TOKEN = "x" }}' }, '/steps/0/when'],
        [{ for_each: '{{ [secrets.TOKEN] }}' }, '/steps/0/for_each'],
      ];
      for (const [extra, path] of cases) {
        const response = await server.request('POST', '/workflows', {
          body: { name: 'leaky', steps: [{ id: 'a', type: 'noop', input: {}, ...extra }] },
        });
        assertProblem(response, 400, 'DEFINITION_INVALID');
        const error = response.body.errors.find((item: { path: string }) => item.path === path);
        assert.ok(error, response.text);
        assert.match(error.message, /only available in step input/);
      }
      const inOutput = await server.request('POST', '/workflows', {
        body: { name: 'leaky', steps: [{ id: 'a', type: 'noop' }], output: { t: '{{ secrets.TOKEN }}' } },
      });
      assertProblem(inOutput, 400, 'DEFINITION_INVALID');
      assert.ok(
        inOutput.body.errors.some((item: { path: string }) => item.path === '/output/t'),
        inOutput.text,
      );
      const listed = await server.request('POST', '/workflows', {
        body: { name: 'lister', steps: [{ id: 'a', type: 'noop', input: { all: '{{ $keys(secrets) }}' } }] },
      });
      assertProblem(listed, 400, 'DEFINITION_INVALID');
      assert.match(listed.text, /secrets\.NAME/);
      const fine = await server.request('POST', '/workflows/validate', {
        body: { name: 'ok', steps: [{ id: 'a', type: 'noop', input: { t: '{{ secrets.TOKEN }}' } }] },
      });
      assert.equal(fine.body.valid, true, fine.text);
    });
  });

  describe(`workspace secrets encrypted with WEFT_SECRETS_KEY (${backend})`, () => {
    let server: TestServer;
    const key = randomBytes(32);
    const value = `enc_${randomBytes(12).toString('hex')}`;

    before(async () => {
      server = await startTestServer(backend, { secretsKey: key });
    });
    after(() => server.close());

    it('stores the value encrypted and still resolves it for a step', async () => {
      const put = await server.request('PUT', '/secrets/SEALED', { body: { value } });
      assert.equal(put.status, 201, put.text);
      assert.equal(put.body.encrypted, true);
      const workspaceId = (await server.request('GET', '/workspaces')).body.items[0].id as string;
      const [row] = await server.store.secrets.values(workspaceId, ['SEALED']);
      assert.ok(row);
      assert.equal(Number(row.encrypted), 1);
      assert.equal(JSON.stringify(row).includes(value), false, 'the raw row does not hold the value');
      assert.equal(
        JSON.stringify(row).includes(Buffer.from(value).toString('base64').slice(0, 16)),
        false,
        'nor its base64',
      );

      const id = await runAdhoc(server, {
        name: 'sealed',
        steps: [{ id: 'a', type: 'transform', input: { expression: '$length($)', data: '{{ secrets.SEALED }}' } }],
      });
      const execution = await waitForExecution(server, id, ['completed', 'failed']);
      assert.equal(stepOf(execution, 'a').output, value.length, JSON.stringify(execution));

      for (const vault of [new SecretVault(undefined), new SecretVault(randomBytes(32))]) {
        await assert.rejects(
          vault.resolve(server.store, workspaceId, ['SEALED']),
          (error: Error & { code?: string }) => {
            assert.equal(error.code, 'SECRET_UNREADABLE');
            assert.match(error.message, /SEALED/);
            return true;
          },
        );
      }
    });
  });
}

describe('secret values in logs', () => {
  it('never reach a log line, even at trace level and for refused requests', async () => {
    const database = await createTestDatabase('sqlite');
    const store = database.open();
    const lines: string[] = [];
    const logger = createLogger('trace', { write: (line: string) => lines.push(line) });
    const silent = pino({ level: 'silent' });
    try {
      await store.migrate();
      const adminKey = generateApiKey();
      await bootstrapWorkspace(store, { dataDir: database.config.dataDir, adminKey });
      const taskTypes = new TaskTypeRegistry();
      const engine = engineFromConfig(store, taskTypes, silent, database.config);
      const app = await buildServer({ store, taskTypes, config: database.config, logger, engine });
      const value = `logged_${randomBytes(10).toString('hex')}`;
      const headers = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
      const bodies = [{ value }, { value, extra: true }, { value: `${value}${'x'.repeat(70_000)}` }];
      const statuses: number[] = [];
      for (const body of bodies) {
        const answer = await app.inject({ method: 'PUT', url: '/api/v1/secrets/LOGGED', headers, payload: body });
        statuses.push(answer.statusCode);
        assert.equal(answer.body.includes(value), false);
      }
      assert.deepEqual(statuses, [201, 400, 400]);
      await app.close();
      assert.ok(lines.length > 0, 'trace level logs requests');
      assert.equal(lines.join('').includes(value), false);
    } finally {
      await store.close();
      await database.drop();
    }
  });
});

describe('WEFT_SECRETS_KEY', () => {
  it('takes 32 bytes as hex or base64 and stops the start on anything else', () => {
    const key = randomBytes(32);
    assert.deepEqual(loadConfig({ WEFT_SECRETS_KEY: key.toString('hex') }).secretsKey, key);
    assert.deepEqual(loadConfig({ WEFT_SECRETS_KEY: key.toString('base64') }).secretsKey, key);
    assert.deepEqual(loadConfig({ WEFT_SECRETS_KEY: key.toString('base64url') }).secretsKey, key);
    assert.equal(loadConfig({}).secretsKey, undefined);
    for (const bad of ['short', randomBytes(16).toString('hex'), randomBytes(31).toString('base64')]) {
      assert.throws(
        () => loadConfig({ WEFT_SECRETS_KEY: bad }),
        (error: Error & { code?: string }) => error.code === 'CONFIG_INVALID' && /WEFT_SECRETS_KEY/.test(error.message),
      );
    }
  });
});
