import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { WebSocket } from 'ws';
import { notFound, toProblem, WeftError } from '../errors.js';
import type { EventBus, LiveEvent } from '../events/event-bus.js';
import { StreamSession, type StreamSnapshot } from '../events/stream-session.js';
import { readConsistently } from '../events/stream-snapshot.js';
import { nowIso } from '../ids.js';
import { recordStreamConnection } from '../metrics/metrics.js';
import type { ExecutionRow } from '../store/database-schema.js';
import type { Store } from '../store/store.js';
import type { ApiContext } from './api-context.js';
import { authenticate, bearerToken, type RequestAuth } from './auth.js';
import { type CorsOrigins, installUpgradeOriginCheck } from './cors.js';
import { asWeftError } from './errors.js';
import { executionView, queuePositions, workflowNames } from './execution-views.js';
import { IdParams } from './schemas.js';

/**
 * Live streams over WebSocket (docs/streams.md): `/executions/{id}/stream` and the workspace-wide
 * `/stream`. They authenticate like the API, with the key in `Authorization: Bearer` or, for
 * browsers (which cannot set headers on a WebSocket), in a `token` query parameter. Failures are
 * reported after the upgrade, as an `error` message (problem+json) and a close code of 4000 + the
 * HTTP status (4401, 4403, 4404, …): a browser sees neither the status nor the body of a refused
 * upgrade, only a bare 1006.
 */

/** What the stream routes need beyond the API context. */
export interface StreamContext extends ApiContext {
  bus: EventBus;
  /** `WEFT_CORS_ORIGINS`: which browser origins may open streams. */
  corsOrigins: CorsOrigins;
}

/** Executions a workspace stream's snapshot shows at most (newest active ones first). */
export const WORKSPACE_SNAPSHOT_LIMIT = 100;
/** Pings keep proxies from closing idle streams; a client that misses one is dropped. */
const PING_INTERVAL_MS = 30_000;
/** Bytes queued for a client that reads too slowly before it is dropped (memory stays bounded). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** WebSocket close reasons are limited to 123 bytes. */
const MAX_REASON_BYTES = 123;

const Token = Type.Optional(
  Type.String({ minLength: 1, maxLength: 500, description: 'The API key, for clients that cannot set headers.' }),
);
const ExecutionStreamQuery = Type.Object({ token: Token }, { additionalProperties: false });
const WorkspaceStreamQuery = Type.Object(
  { token: Token, workflow_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
  { additionalProperties: false },
);

function notUpgraded(): never {
  throw new WeftError('MALFORMED_REQUEST', 'this is a WebSocket route: connect with an Upgrade: websocket request');
}

function truncateReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > MAX_REASON_BYTES) reason = reason.slice(0, -1);
  return reason;
}

/** One client socket: JSON messages, pings, slow-client and error closes. */
class StreamSocket {
  readonly #ping: NodeJS.Timeout;
  #alive = true;

  constructor(
    readonly socket: WebSocket,
    private readonly log: FastifyBaseLogger,
  ) {
    recordStreamConnection(1);
    socket.on('pong', () => {
      this.#alive = true;
    });
    socket.on('message', () => {
      // Streams are one-way; what a client sends is ignored.
    });
    this.#ping = setInterval(() => {
      if (!this.#alive) {
        socket.terminate();
        return;
      }
      this.#alive = false;
      socket.ping();
    }, PING_INTERVAL_MS);
    this.#ping.unref();
    socket.once('close', () => {
      clearInterval(this.#ping);
      recordStreamConnection(-1);
    });
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(message: unknown): void {
    if (!this.open) return;
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.log.warn({ buffered: this.socket.bufferedAmount }, 'stream client reads too slowly; closing it');
      this.socket.close(1008, 'the client reads too slowly');
      return;
    }
    this.socket.send(JSON.stringify(message));
  }

  /**
   * Closes with 1012 (service restart): events may have been missed, so the client reconnects and
   * gets a fresh snapshot.
   */
  resubscribe(): void {
    if (this.open) this.socket.close(1012, 'events may have been missed; reconnect for a fresh snapshot');
  }

  /** Sends the problem as an `error` message, then closes with 4000 + its status. */
  fail(error: unknown, isUnavailable: (error: unknown) => boolean): void {
    const weftError = asWeftError(error, isUnavailable);
    if (weftError.status >= 500) this.log.error({ err: error, code: weftError.code }, 'stream failed');
    else this.log.debug({ code: weftError.code, detail: weftError.message }, 'stream refused');
    this.send({ type: 'error', timestamp: nowIso(), data: toProblem(weftError) });
    if (this.open)
      this.socket.close(4000 + weftError.status, truncateReason(`${weftError.code}: ${weftError.message}`));
  }
}

/** The stream routes; registered under `/api/v1` without the API's authentication hook. */
export const streamRoutes: FastifyPluginAsyncTypebox<StreamContext> = async (app, { store, bus, corsOrigins }) => {
  installUpgradeOriginCheck(app, corsOrigins);
  /** Authenticates the upgrade request, then runs a session until the socket closes. */
  const serve = async (
    client: StreamSocket,
    request: FastifyRequest,
    token: string | undefined,
    start: (auth: RequestAuth) => Promise<StreamSession>,
  ) => {
    let session: StreamSession | undefined;
    let closed = false;
    client.socket.once('close', () => {
      closed = true;
      session?.close().catch((error: unknown) => request.log.warn({ err: error }, 'closing a stream failed'));
    });
    try {
      const key = bearerToken(request) ?? token;
      if (!key) {
        throw new WeftError('UNAUTHORIZED', 'send an API key as Authorization: Bearer <key> or as ?token=<key>');
      }
      const auth = await authenticate(store, request, key);
      if (closed) return;
      session = await start(auth);
      // A client that left while the session was being set up gets no subscription.
      if (closed) return;
      await session.open();
      if (closed) await session.close();
    } catch (error) {
      await session?.close();
      client.fail(error, (cause) => store.isUnavailableError(cause));
    }
  };

  app.route({
    method: 'GET',
    url: '/executions/:id/stream',
    schema: { hide: true, params: IdParams, querystring: ExecutionStreamQuery },
    handler: notUpgraded,
    wsHandler: (socket, request) => {
      const client = new StreamSocket(socket, request.log);
      const { id } = request.params;
      return serve(client, request, request.query.token, async ({ workspace }) => {
        if (!(await store.executions.get(workspace.id, id))) throw notFound('execution', id);
        return new StreamSession({
          bus,
          accepts: (event) => event.execution_id === id && event.workspace_id === workspace.id,
          snapshot: () => executionSnapshot(store, workspace.id, id),
          send: (message) => client.send(message),
          onGap: () => client.resubscribe(),
        });
      });
    },
  });

  app.route({
    method: 'GET',
    url: '/stream',
    schema: { hide: true, querystring: WorkspaceStreamQuery },
    handler: notUpgraded,
    wsHandler: (socket, request) => {
      const client = new StreamSocket(socket, request.log);
      const workflowId = request.query.workflow_id;
      return serve(client, request, request.query.token, async ({ workspace }) => {
        const accepts = (event: LiveEvent) =>
          event.workspace_id === workspace.id && (workflowId === undefined || event.data.workflow_id === workflowId);
        return new StreamSession({
          bus,
          accepts,
          snapshot: () => workspaceSnapshot(store, workspace.id, workflowId),
          send: (message) => client.send(message),
          onGap: () => client.resubscribe(),
        });
      });
    },
  });
};

/** Reads executions with their steps, as the API shows them (those that vanished are left out). */
async function executionViews(store: Store, workspaceId: string, ids: readonly string[]) {
  const rows = await Promise.all(ids.map((id) => store.executions.get(workspaceId, id)));
  const found = rows.filter((row): row is ExecutionRow => row !== undefined);
  const [steps, items, positions, names] = await Promise.all([
    Promise.all(found.map((row) => store.steps.list(row.id))),
    // The `items` counts of for_each steps, as GET /executions/{id} shows them.
    Promise.all(found.map((row) => store.items.countsOfExecution(row.id))),
    queuePositions(store, found),
    workflowNames(store, workspaceId, found),
  ]);
  return found.map((row, index) =>
    executionView(row, steps[index] ?? [], {
      items: items[index],
      queuePosition: positions.get(row.id) ?? null,
      workflowName: row.workflow_id === null ? null : (names.get(row.workflow_id) ?? null),
    }),
  );
}

/** `execution.snapshot`: the execution with its steps, as `GET /executions/{id}` shows it. */
async function executionSnapshot(store: Store, workspaceId: string, id: string): Promise<StreamSnapshot> {
  const { state, covered } = await readConsistently(store, [id], () => executionViews(store, workspaceId, [id]));
  const [execution] = state;
  if (!execution) throw notFound('execution', id);
  return {
    message: {
      type: 'execution.snapshot',
      timestamp: nowIso(),
      data: { execution_id: id, workflow_id: execution.workflow_id, status: execution.status, execution },
    },
    covered,
    executions: new Set([id]),
  };
}

/** `stream.snapshot`: the workspace's newest active executions (of a workflow) with their steps. */
async function workspaceSnapshot(
  store: Store,
  workspaceId: string,
  workflowId: string | undefined,
): Promise<StreamSnapshot> {
  const active = await store.executions.active(workspaceId, workflowId, WORKSPACE_SNAPSHOT_LIMIT + 1);
  const ids = active.slice(0, WORKSPACE_SNAPSHOT_LIMIT).map((row) => row.id);
  const { state, covered } = await readConsistently(store, ids, () => executionViews(store, workspaceId, ids));
  return {
    message: {
      type: 'stream.snapshot',
      timestamp: nowIso(),
      data: {
        workflow_id: workflowId ?? null,
        executions: state,
        truncated: active.length > WORKSPACE_SNAPSHOT_LIMIT,
      },
    },
    covered,
    executions: new Set(ids),
  };
}
