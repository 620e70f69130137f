import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ApiContext } from '../api/api-context.js';
import { authOf } from '../api/auth.js';
import { compileRequestSchema } from '../api/request-validation.js';
import { errorResponses, IdParams, PageOf, PageQuery, Timestamp } from '../api/schemas.js';
import { STEP_ID_PATTERN } from '../definition/definition-schema.js';
import { WeftError } from '../errors.js';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import { artifactView } from './artifact-repository.js';
import { ARTIFACT_NAME_PATTERN, type Artifacts, artifactsFromConfig, artifactTooLarge } from './artifacts.js';
import { parseRange } from './byte-range.js';

/**
 * The artifact routes (SPEC §3.1, §5): `PUT/GET/DELETE /executions/{id}/artifacts/{name}` and the
 * list. Uploads are streamed to the artifact storage (never buffered whole), downloads streamed
 * back with `Content-Length`, `ETag` and one `Range`. The upload route takes any content type, so
 * it lives in its own plugin context where the JSON parser is replaced by a pass-through.
 */

const ArtifactParams = Type.Object({
  id: IdParams.properties.id,
  name: Type.String({
    maxLength: 200,
    description: "A letter or digit, then up to 127 letters, digits, '.', '_' or '-'.",
    examples: ['page.html'],
  }),
});

const ArtifactSchema = Type.Object(
  {
    name: Type.String({ pattern: ARTIFACT_NAME_PATTERN }),
    size: Type.Integer({ minimum: 0, description: 'Bytes.' }),
    content_type: Type.String(),
    sha256: Type.String({ description: 'Hex SHA-256 of the bytes; also the ETag of a download.' }),
    step_id: Type.Union([Type.String(), Type.Null()], { description: 'The step that produced it, if any.' }),
    created_at: Timestamp,
  },
  { title: 'Artifact' },
);

const tags = ['artifacts'];
/** Worker keys may put artifacts (of executions whose task they hold); reading stays with members. */
const putRoles = ['admin', 'member', 'worker'] as const;

function declaredLength(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d+$/.test(header)) return undefined;
  return Number(header);
}

/** The upload route, in a context whose body parser hands the request stream over unread. */
async function uploadRoute(app: FastifyInstance, artifacts: Artifacts, context: ApiContext): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  // The body is bytes, not JSON: its schema documents it and is not validated.
  app.setValidatorCompiler((route) => (route.httpPart === 'body' ? () => true : compileRequestSchema(route)));
  app.withTypeProvider<import('@fastify/type-provider-typebox').TypeBoxTypeProvider>().put(
    '/executions/:id/artifacts/:name',
    {
      config: { roles: putRoles },
      schema: {
        tags,
        summary: 'Upload an artifact (raw body, any content type, streamed); replaces one of that name',
        description:
          'The body is stored as sent, up to WEFT_ARTIFACT_MAX_BYTES (413 past it, nothing kept). A worker key ' +
          'may upload only while it holds a task of the execution (else 403).',
        params: ArtifactParams,
        querystring: Type.Object({
          step_id: Type.Optional(Type.String({ pattern: STEP_ID_PATTERN, description: 'The step it belongs to.' })),
        }),
        consumes: ['*/*'],
        body: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'The bytes.' }),
        response: { 201: ArtifactSchema, ...errorResponses(400, 401, 403, 404, 413) },
      },
    },
    async (request, reply) => {
      const { workspace, key } = authOf(request);
      if (key.role === 'worker' && !(await context.tasks.holdsTaskOf(request.params.id, key.id))) {
        // Whether the execution exists is not told to a key that holds none of its tasks.
        throw new WeftError('FORBIDDEN', 'a worker key may put artifacts only of an execution whose task it holds');
      }
      const size = declaredLength(request.headers['content-length']);
      if (size !== undefined && size > artifacts.maxBytes) {
        // The rest of the body is not read: the connection closes after this answer.
        reply.header('connection', 'close');
        throw artifactTooLarge(artifacts.maxBytes, size);
      }
      try {
        const view = await artifacts.put(
          { workspaceId: workspace.id, executionId: request.params.id, stepId: request.query.step_id },
          request.params.name,
          request.headers['content-type'],
          // Not destroyed when the write stops early: the answer (413) still goes out on this socket.
          request.raw.iterator({ destroyOnReturn: false }),
          size,
        );
        return reply.status(201).send(view);
      } catch (error) {
        if (!request.raw.readableEnded) {
          reply.header('connection', 'close');
          request.raw.resume();
        }
        throw error;
      }
    },
  );
}

/** The artifact routes, within the acting workspace. */
export const artifactRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, context) => {
  const artifacts = context.engine.artifacts ?? artifactsFromConfig(context.store, context.config);
  // Uploads cut short by a crash leave partial files; the ones older than an hour are removed.
  app.addHook('onReady', async () => {
    await artifacts
      .sweepPartials()
      .catch((error: unknown) => app.log.error({ err: error }, 'sweeping partial artifact uploads failed'));
  });
  await app.register(async (upload) => uploadRoute(upload, artifacts, context));

  app.get(
    '/executions/:id/artifacts',
    {
      schema: {
        tags,
        summary: "List an execution's artifacts by name",
        params: IdParams,
        querystring: Type.Object(PageQuery),
        response: { 200: PageOf(ArtifactSchema, 'Artifact page'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const execution = await context.store.executions.get(authOf(request).workspace.id, request.params.id);
      if (!execution) throw new WeftError('NOT_FOUND', `execution '${request.params.id}' was not found`);
      const page = await context.store.artifacts.list(execution.id, {
        limit: request.query.limit ?? DEFAULT_PAGE_SIZE,
        cursor: request.query.cursor,
      });
      return { items: page.items.map(artifactView), next_cursor: page.next_cursor };
    },
  );

  app.get(
    '/executions/:id/artifacts/:name',
    {
      schema: {
        tags,
        summary: 'Download an artifact (streamed; ETag, one Range)',
        description:
          'Answers with the content type it was uploaded with, Content-Length, ETag (the quoted sha256) and ' +
          'Accept-Ranges. `Range: bytes=a-b` (or `a-`, `-n`) answers 206 with Content-Range; a range past the end ' +
          'is 416. If-None-Match with the ETag answers 304.',
        params: ArtifactParams,
        headers: Type.Object({
          range: Type.Optional(Type.String({ maxLength: 200 })),
          'if-none-match': Type.Optional(Type.String({ maxLength: 500 })),
          'if-range': Type.Optional(Type.String({ maxLength: 500 })),
        }),
        produces: ['*/*'],
        response: {
          200: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'The bytes.' }),
          206: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'The requested range.' }),
          304: Type.Null({ description: 'Not modified: If-None-Match named its ETag.' }),
          ...errorResponses(400, 401, 403, 404, 416),
        },
      },
    },
    async (request, reply) => {
      const row = await artifacts.get(authOf(request).workspace.id, request.params.id, request.params.name);
      const size = Number(row.size);
      const etag = `"${row.sha256}"`;
      reply.header('etag', etag).header('accept-ranges', 'bytes').header('cache-control', 'private, no-cache');
      if (request.headers['if-none-match']?.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
        return reply.status(304).send(null);
      }
      const ifRange = request.headers['if-range'];
      const wanted =
        ifRange === undefined || ifRange === etag
          ? parseRange(request.headers.range, size)
          : { kind: 'whole' as const };
      if (wanted.kind === 'unsatisfiable') {
        reply.header('content-range', `bytes */${size}`);
        throw new WeftError(
          'RANGE_NOT_SATISFIABLE',
          `the artifact has ${size} bytes; the range '${request.headers.range}' starts past its end`,
        );
      }
      const range = wanted.kind === 'range' ? wanted.range : undefined;
      const stream = await artifacts.open(row, range);
      reply.header('content-type', row.content_type);
      if (range) {
        reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
        reply.header('content-length', range.end - range.start + 1);
      } else {
        reply.header('content-length', size);
      }
      return reply.send(stream);
    },
  );

  app.delete(
    '/executions/:id/artifacts/:name',
    {
      schema: {
        tags,
        summary: 'Delete an artifact (its file and its record)',
        params: ArtifactParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await artifacts.remove(authOf(request).workspace.id, request.params.id, request.params.name);
      return reply.status(204).send(null);
    },
  );
};
