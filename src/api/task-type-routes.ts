import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { compileUserSchema } from '../definition/json-schema.js';
import { DEFAULT_LEASE_SECONDS } from '../engine/external-tasks.js';
import { WeftError } from '../errors.js';
import { nowIso } from '../ids.js';
import type { TaskTypeRow } from '../store/database-schema.js';
import { declaredDescriptor } from '../tasks/declared-types.js';
import type { TaskTypeDescriptor } from '../tasks/task-type.js';
import type { QueueDepth } from '../workers/worker-repository.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { errorResponses, JsonObject, PageOf, Timestamp } from './schemas.js';

/** Task type names: what a definition's `type` may say for a declared type. */
export const TASK_TYPE_PATTERN = '^[A-Za-z][A-Za-z0-9_.:-]{0,199}$';

const TaskTypeSchema = Type.Object(
  {
    type: Type.String(),
    source: Type.String({ enum: ['builtin', 'plugin', 'declared'] }),
    description: Type.String(),
    input_schema: Type.Union([JsonObject, Type.Boolean(), Type.Null()]),
    output_schema: Type.Union([JsonObject, Type.Boolean(), Type.Null()]),
    lease_seconds: Type.Union([Type.Integer(), Type.Null()], { description: 'Declared types only.' }),
    created_at: Type.Union([Timestamp, Type.Null()]),
    updated_at: Type.Union([Timestamp, Type.Null()]),
    queued: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description:
        'Declared types: steps and `for_each` items of this type waiting for a worker (queued in a running ' +
        'execution, due now or after a retry delay). Null for built-in and plugin types, which the server runs.',
    }),
    running: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description:
        'Declared types: steps and items of this type a worker holds now. Null for built-in and plugin types.',
    }),
  },
  { title: 'Task type' },
);

const TypeParams = Type.Object({ type: Type.String({ pattern: TASK_TYPE_PATTERN }) });

const DeclareBody = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    input_schema: Type.Optional(
      Type.Unknown({
        description: 'JSON Schema (2020-12) of the input; its required fields are checked at validation.',
      }),
    ),
    output_schema: Type.Optional(
      Type.Unknown({ description: 'JSON Schema of the output; a closed object rejects references to other fields.' }),
    ),
    lease_seconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 3600,
        default: DEFAULT_LEASE_SECONDS,
        description: 'How long a polled task is held without a heartbeat.',
      }),
    ),
  },
  { additionalProperties: false },
);

const roles = ['admin', 'member', 'worker'] as const;
const tags = ['workers'];

const EMPTY_QUEUE: QueueDepth = { queued: 0, running: 0 };

/** A task type as the API shows it; `depth` is its queue, for a declared type (`row`) only. */
function viewOf(descriptor: TaskTypeDescriptor, row?: TaskTypeRow, depth?: QueueDepth) {
  return {
    type: descriptor.type,
    source: descriptor.source,
    description: descriptor.description,
    input_schema: descriptor.inputSchema ?? null,
    output_schema: descriptor.outputSchema ?? null,
    lease_seconds: row ? Number(row.lease_seconds) : null,
    created_at: row?.created_at ?? null,
    updated_at: row?.updated_at ?? null,
    queued: row ? (depth ?? EMPTY_QUEUE).queued : null,
    running: row ? (depth ?? EMPTY_QUEUE).running : null,
  };
}

/** `PUT/GET /task-types/{type}`, `GET /task-types`: the types a workspace's steps may use. */
export const taskTypeRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store, taskTypes }) => {
  app.get(
    '/task-types',
    {
      config: { roles },
      schema: {
        tags,
        summary: 'Built-in, plugin and declared task types with their schemas (a single page)',
        response: { 200: PageOf(TaskTypeSchema, 'Task type page'), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const workspaceId = authOf(request).workspace.id;
      const declared = await store.taskTypes.list(workspaceId);
      // One grouped query for every declared type's queue.
      const depths = await store.workers.queueDepths(
        workspaceId,
        declared.map((row) => row.type),
      );
      const items = [
        ...taskTypes.list().map((descriptor) => viewOf(descriptor)),
        ...declared.map((row) => viewOf(declaredDescriptor(row), row, depths.get(row.type))),
      ].sort((a, b) => a.type.localeCompare(b.type));
      return { items, next_cursor: null };
    },
  );

  app.get(
    '/task-types/:type',
    {
      config: { roles },
      schema: {
        tags,
        summary: 'One task type',
        params: TypeParams,
        response: { 200: TaskTypeSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { type } = request.params;
      const own = taskTypes.get(type);
      if (own) return viewOf(own);
      const workspaceId = authOf(request).workspace.id;
      const row = await store.taskTypes.get(workspaceId, type);
      if (!row) throw new WeftError('NOT_FOUND', `task type '${type}' was not found`);
      const depths = await store.workers.queueDepths(workspaceId, [type]);
      return viewOf(declaredDescriptor(row), row, depths.get(type));
    },
  );

  app.put(
    '/task-types/:type',
    {
      config: { roles },
      schema: {
        tags,
        summary: 'Declare (or update) a task type served by external workers',
        params: TypeParams,
        body: DeclareBody,
        response: { 200: TaskTypeSchema, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request) => {
      const { type } = request.params;
      const own = taskTypes.get(type);
      if (own) {
        throw new WeftError('CONFLICT', `'${type}' is a ${own.source} task type of this server; choose another name`);
      }
      const body = request.body;
      const errors = [
        ...(body.input_schema === undefined ? [] : compileUserSchema(body.input_schema, '/input_schema').errors),
        ...(body.output_schema === undefined ? [] : compileUserSchema(body.output_schema, '/output_schema').errors),
      ];
      if (errors.length > 0)
        throw new WeftError('VALIDATION_FAILED', 'a schema is not a valid JSON Schema', { errors });
      const at = nowIso();
      const workspaceId = authOf(request).workspace.id;
      const row = await store.taskTypes.upsert({
        workspace_id: workspaceId,
        type,
        description: body.description ?? '',
        input_schema: body.input_schema === undefined ? null : JSON.stringify(body.input_schema),
        output_schema: body.output_schema === undefined ? null : JSON.stringify(body.output_schema),
        lease_seconds: body.lease_seconds ?? DEFAULT_LEASE_SECONDS,
        created_at: at,
        updated_at: at,
      });
      const depths = await store.workers.queueDepths(workspaceId, [type]);
      return viewOf(declaredDescriptor(row), row, depths.get(type));
    },
  );
};
