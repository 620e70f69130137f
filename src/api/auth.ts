import type { FastifyInstance, FastifyRequest } from 'fastify';
import { findApiKey } from '../auth/api-key-cache.js';
import { hashApiKey } from '../auth/api-key-secrets.js';
import { WeftError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { ApiKey, Role, Workspace } from '../types.js';

/**
 * Authentication and tenancy. Every `/api/v1` request carries `Authorization: Bearer <key>`; the
 * key fixes the role and the workspace. Only `owner` keys (the instance operator) may act on
 * another workspace by naming it in `X-Workspace-Id` or `X-Workspace-Slug`; every other key naming
 * a workspace not its own gets 403 before anything is looked up, so the answer tells nothing about
 * which workspaces exist. Routes declare the roles they allow in `config.roles`; an owner may use
 * every route an admin may.
 */

/** Who is calling, and in which workspace. */
export interface RequestAuth {
  key: ApiKey;
  /** The workspace the request acts on (the key's own, or the one an owner named). */
  workspace: Workspace;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: RequestAuth | undefined;
  }
  interface FastifyContextConfig {
    /** Roles allowed on the route; defaults to admin and member. `owner` is implied by `admin`. */
    roles?: readonly Role[];
  }
}

/** Roles of routes that do not say otherwise. */
export const DEFAULT_ROLES: readonly Role[] = ['admin', 'member'];

/**
 * True when a key of `role` may use a route allowing `allowed`. The owner may do everything an
 * admin may (routes of later issues that allow `admin` need not list it), and what names it.
 */
export function roleAllows(allowed: readonly Role[], role: Role): boolean {
  return allowed.includes(role) || (role === 'owner' && allowed.includes('admin'));
}

function singleHeader(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

async function resolveWorkspace(
  store: Store,
  request: FastifyRequest,
  key: ApiKey,
  own: Workspace,
): Promise<Workspace> {
  const byId = singleHeader(request, 'x-workspace-id');
  const bySlug = singleHeader(request, 'x-workspace-slug');
  if (byId === undefined && bySlug === undefined) return own;
  const named = byId ?? bySlug ?? '';
  const isOwn = byId !== undefined ? byId === own.id : bySlug === own.slug;
  if (!isOwn && key.role !== 'owner') {
    throw new WeftError(
      'FORBIDDEN',
      'only owner keys may act on another workspace (X-Workspace-Id / X-Workspace-Slug); this key acts in its own',
    );
  }
  const target = isOwn
    ? own
    : byId !== undefined
      ? await store.workspaces.get(byId)
      : await store.workspaces.getBySlug(named);
  if (!target || (bySlug !== undefined && target.slug !== bySlug)) {
    throw new WeftError('NOT_FOUND', `workspace '${named}' was not found`);
  }
  return target;
}

/**
 * Authenticates `token` (an API key) for a request: checks the key, the route's roles and the
 * workspace it acts on. The API's hook takes the key from `Authorization`; streams also accept
 * it as a query parameter, since browsers cannot set headers on a WebSocket.
 */
export async function authenticate(
  store: Store,
  request: FastifyRequest,
  token: string | undefined,
): Promise<RequestAuth> {
  if (!token) throw new WeftError('UNAUTHORIZED', 'send an API key as Authorization: Bearer <key>');
  const found = await findApiKey(store, hashApiKey(token));
  if (!found) throw new WeftError('UNAUTHORIZED', 'the API key is not valid');
  const allowed = request.routeOptions.config.roles ?? DEFAULT_ROLES;
  if (!roleAllows(allowed, found.key.role)) {
    throw new WeftError('FORBIDDEN', `a ${found.key.role} key cannot use this route (allowed: ${allowed.join(', ')})`);
  }
  const auth = { key: found.key, workspace: await resolveWorkspace(store, request, found.key, found.workspace) };
  // `last_used_at` is kept to the minute: one write per key and minute, off the request's path.
  const lastUsed = found.key.last_used_at ? Date.parse(found.key.last_used_at) : 0;
  if (Date.now() - lastUsed > 60_000) {
    // The cached key remembers the touch, so requests within the cache's second do not repeat it.
    const at = new Date().toISOString();
    found.key.last_used_at = at;
    store.apiKeys
      .touch(found.key.id, at)
      .catch((error: unknown) => request.log.warn({ err: error, key: found.key.id }, 'recording key use failed'));
  }
  return auth;
}

/** The key of an `Authorization: Bearer <key>` header, if there is one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Authenticates every request of the instance it is installed on and enforces route roles. */
export function installAuthentication(app: FastifyInstance, store: Store): void {
  app.decorateRequest('auth', undefined);
  app.addHook('onRequest', async (request) => {
    request.auth = await authenticate(store, request, bearerToken(request));
  });
}

/** The authentication of a request on an authenticated route. */
export function authOf(request: FastifyRequest): RequestAuth {
  if (!request.auth) throw new WeftError('UNAUTHORIZED', 'the request is not authenticated');
  return request.auth;
}
