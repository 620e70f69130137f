import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildServer } from '../../src/api/server.js';
import { generateApiKey } from '../../src/auth/api-key-secrets.js';
import { bootstrapWorkspace } from '../../src/auth/bootstrap.js';
import type { WeftConfig } from '../../src/config.js';
import { closeInputValidation } from '../../src/definition/input-validation.js';
import type { Engine } from '../../src/engine/engine.js';
import { engineFromConfig } from '../../src/engine/engine-from-config.js';
import { type WebhookDispatcher, webhookDispatcherFromConfig } from '../../src/events/webhook-dispatcher.js';
import type { Store } from '../../src/store/store.js';
import { BUILTIN_TASK_TYPES, TaskTypeRegistry } from '../../src/tasks/registry.js';
import type { TaskTypeDescriptor } from '../../src/tasks/task-type.js';
import { type Backend, createTestDatabase, type TestDatabase } from './backends.js';
import { exchange } from './http-client.js';

/** An HTTP response as a test sees it. */
export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON when the body is JSON, else the text. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response shapes and assert on them.
  body: any;
  text: string;
}

/** Options of one request. */
export interface RequestOptions {
  key?: string | null;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

/** A real Weft server on a loopback port, on a fresh database. */
export interface TestServer {
  backend: Backend;
  url: string;
  adminKey: string;
  store: Store;
  database: TestDatabase;
  app: FastifyInstance;
  engine: Engine;
  webhooks: WebhookDispatcher;
  config: WeftConfig;
  /** Sends a request under `/api/v1` (or an absolute path when it starts with `!`). */
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  close(): Promise<void>;
}

/**
 * Starts a server on a new database of `backend`, with a known admin key; `taskTypes` are
 * in-process types registered beside the built-ins (as WEFT_PLUGINS would); `logger` is the
 * process logger of the server, its engine and webhooks (silent unless given).
 */
export async function startTestServer(
  backend: Backend,
  overrides: Partial<WeftConfig> = {},
  taskTypes: readonly TaskTypeDescriptor[] = [],
  logger: FastifyBaseLogger = pino({ level: 'silent' }),
): Promise<TestServer> {
  const database = await createTestDatabase(backend, { migrated: true });
  const config = { ...database.config, ...overrides };
  const store = database.open();
  await store.migrate();
  const adminKey = generateApiKey();
  await bootstrapWorkspace(store, { dataDir: config.dataDir, adminKey });
  const registry = new TaskTypeRegistry([...BUILTIN_TASK_TYPES, ...taskTypes]);
  const engine = engineFromConfig(store, registry, logger, config);
  const app = await buildServer({ store, taskTypes: registry, config, logger, engine });
  const webhooks = webhookDispatcherFromConfig(store, logger, config);
  await engine.start();
  await webhooks.start();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  let closed = false;
  return {
    backend,
    url,
    adminKey,
    store,
    database,
    app,
    engine,
    webhooks,
    config,
    request: (method, path, options = {}) =>
      sendRequest(url, method, path, { ...options, key: options.key === undefined ? adminKey : options.key }),
    async close() {
      if (closed) return;
      closed = true;
      // The test's requests have all been answered by now; a keep-alive connection the server
      // still counts (seen after an artifact stream) would hold close() for Fastify's 72 s
      // keep-alive timeout.
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await engine.stop(1000);
      await webhooks.stop();
      await store.close().catch(() => undefined);
      await closeInputValidation();
      await database.drop();
    },
  };
}

/** Sends one HTTP request to a server. */
export async function sendRequest(
  baseUrl: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const target = path.startsWith('!') ? `${baseUrl}${path.slice(1)}` : `${baseUrl}/api/v1${path}`;
  const response = await exchange(target, method, headers, body);
  const { text } = response;
  let parsed: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
  return { ...response, body: parsed };
}

/** Creates a key of `role` in the server's default workspace (or the one named by header). */
export async function createKey(server: TestServer, role: 'admin' | 'member' | 'worker', workspaceId?: string) {
  const headers: Record<string, string> = workspaceId ? { 'x-workspace-id': workspaceId } : {};
  const response = await server.request('POST', '/api-keys', { body: { name: `${role} key`, role }, headers });
  if (response.status !== 201) throw new Error(`key creation failed: ${response.status} ${response.text}`);
  return response.body.key as string;
}

/** A minimal valid definition. */
export function simpleDefinition(name = 'Simple', extra: Record<string, unknown> = {}) {
  return {
    name,
    steps: [
      { id: 'first', type: 'noop', input: { value: '{{ input.value }}' } },
      { id: 'second', type: 'transform', input: { expression: '$ * 2', data: '{{ steps.first.output.value }}' } },
    ],
    output: { doubled: '{{ steps.second.output }}' },
    ...extra,
  };
}

/** Asserts an RFC 9457 problem+json answer with this status and registered code. */
export function assertProblem(response: ApiResponse, status: number, code: string): void {
  assert.equal(response.status, status, response.text);
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(response.body.status, status);
  assert.equal(response.body.code, code);
  assert.equal(typeof response.body.title, 'string');
  assert.equal(typeof response.body.detail, 'string');
  assert.match(response.body.type, /^urn:weft:problem:/);
}
