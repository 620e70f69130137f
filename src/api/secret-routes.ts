import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { notFound, WeftError } from '../errors.js';
import { SECRET_NAME_PATTERN } from '../secrets/secret-references.js';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { errorResponses, PageOf, PageQuery, Timestamp } from './schemas.js';

/**
 * Workspace secrets (SPEC §5, docs/secrets.md): values are write-only. Every answer carries the
 * name and timestamps, never the value; templates read a value as `{{ secrets.NAME }}` in step
 * inputs only, when the attempt runs. Admin keys write; admin and member keys see the names.
 */

/** Largest secret value, in UTF-8 bytes. */
export const MAX_SECRET_BYTES = 64 * 1024;

const NameParams = Type.Object({
  name: Type.String({
    pattern: SECRET_NAME_PATTERN,
    description: 'A letter or `_`, then up to 63 letters, digits or `_`.',
  }),
});

const PutBody = Type.Object(
  {
    value: Type.String({
      minLength: 1,
      maxLength: MAX_SECRET_BYTES,
      description: `The value (at most ${MAX_SECRET_BYTES} bytes of UTF-8). Never returned.`,
    }),
  },
  { additionalProperties: false },
);

const SecretSchema = Type.Object(
  {
    name: Type.String(),
    encrypted: Type.Boolean({ description: 'Stored encrypted under WEFT_SECRETS_KEY (false: stored as it is).' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'Secret' },
);

const tags = ['secrets'];

/** `/secrets`: put, list, read metadata, delete; within the acting workspace. */
export const secretRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store, engine }) => {
  app.put(
    '/secrets/:name',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'Create (201) or replace (200) a secret; the value is never returned',
        params: NameParams,
        body: PutBody,
        response: { 200: SecretSchema, 201: SecretSchema, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      if (Buffer.byteLength(request.body.value, 'utf8') > MAX_SECRET_BYTES) {
        throw new WeftError('VALIDATION_FAILED', `/value: must be at most ${MAX_SECRET_BYTES} bytes of UTF-8`, {
          errors: [{ path: '/value', message: `must be at most ${MAX_SECRET_BYTES} bytes of UTF-8` }],
        });
      }
      const { secret, created } = await engine.secrets.put(
        store,
        authOf(request).workspace.id,
        request.params.name,
        request.body.value,
      );
      return reply.status(created ? 201 : 200).send(secret);
    },
  );

  app.get(
    '/secrets',
    {
      schema: {
        tags,
        summary: 'List the names of the workspace secrets, A–Z (never the values)',
        querystring: Type.Object(PageQuery),
        response: { 200: PageOf(SecretSchema, 'Secret page'), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) =>
      store.secrets.list(authOf(request).workspace.id, {
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
        cursor: request.query.cursor,
      }),
  );

  app.get(
    '/secrets/:name',
    {
      schema: {
        tags,
        summary: "A secret's metadata (never its value)",
        params: NameParams,
        response: { 200: SecretSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const secret = await store.secrets.get(authOf(request).workspace.id, request.params.name);
      if (!secret) throw notFound('secret', request.params.name);
      return secret;
    },
  );

  app.delete(
    '/secrets/:name',
    {
      config: { roles: ['admin'] },
      schema: {
        tags,
        summary: 'Delete a secret (steps naming it then fail with SECRET_MISSING)',
        params: NameParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      if (!(await store.secrets.delete(authOf(request).workspace.id, request.params.name)))
        throw notFound('secret', request.params.name);
      return reply.status(204).send(null);
    },
  );
};
