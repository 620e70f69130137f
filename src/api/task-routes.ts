import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { WeftConfig } from '../config.js';
import { MAX_WAIT_SECONDS } from '../engine/external-tasks.js';
import { STEP_STATUSES } from '../engine/states.js';
import { WeftError } from '../errors.js';
import type { ApiContext } from './api-context.js';
import { authOf } from './auth.js';
import { errorResponses, OneOf, Timestamp } from './schemas.js';
import { TASK_TYPE_PATTERN } from './task-type-routes.js';

/**
 * The worker routes (SPEC §5): long-poll for tasks, heartbeat, complete, fail, release. The
 * protocol is documented in docs/workers.md.
 */

const TaskSchema = Type.Object(
  {
    id: Type.String({ description: 'Names this attempt and lease; a new attempt has a new id.' }),
    execution_id: Type.String(),
    step_id: Type.String(),
    workflow_id: Type.Union([Type.String(), Type.Null()]),
    type: Type.String(),
    input: Type.Unknown({ description: 'The step input after templates and input_mappings.' }),
    index: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description:
        'The item of a `for_each` step this task runs (its input was rendered with `item` and `index`); null for a step.',
    }),
    attempt: Type.Integer({ minimum: 1 }),
    lease_expires_at: Timestamp,
    lease_seconds: Type.Integer({ description: 'Send heartbeats well within this.' }),
  },
  { title: 'Task' },
);

const PollBody = Type.Object(
  {
    worker_id: Type.String({ minLength: 1, maxLength: 200, description: 'Shown in timelines and events.' }),
    types: Type.Array(Type.String({ pattern: TASK_TYPE_PATTERN }), { minItems: 1, maxItems: 100 }),
    wait_seconds: Type.Optional(
      Type.Number({ minimum: 0, maximum: MAX_WAIT_SECONDS, default: 0, description: 'Long-poll up to this long.' }),
    ),
    max_tasks: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 1 })),
  },
  { additionalProperties: false },
);

/** Task ids encode execution, step (up to 64 characters), attempt and claim. */
const TaskIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 400 }) });

const EmptyBody = Type.Object({}, { additionalProperties: false });
const CompleteBody = Type.Object(
  { output: Type.Optional(Type.Unknown({ description: 'The step output (JSON); null when absent.' })) },
  { additionalProperties: false },
);
const FailBody = Type.Object(
  {
    error: Type.Object(
      {
        message: Type.String({ minLength: 1, maxLength: 10_000 }),
        retryable: Type.Optional(Type.Boolean({ default: true, description: 'false skips the remaining attempts.' })),
        details: Type.Optional(Type.Unknown()),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const SettledSchema = Type.Object(
  {
    id: Type.String(),
    execution_id: Type.String(),
    step_id: Type.String(),
    status: OneOf(STEP_STATUSES, { description: 'The step status now: completed, queued (a retry), failed, ...' }),
  },
  { title: 'Settled task' },
);

const roles = ['admin', 'member', 'worker'] as const;
const tags = ['workers'];
const settledResponses = { 200: SettledSchema, ...errorResponses(400, 401, 403, 404, 409) };

/** Room for the `{"output": …}` wrapper and for whitespace and escapes a worker's JSON may add. */
export const COMPLETE_BODY_SLACK_BYTES = 64 * 1024;

/**
 * The body limit of `complete`: enough to measure an output up to WEFT_MAX_OUTPUT_BYTES and answer
 * why it is refused, never less than the limit of the other JSON routes.
 */
export function completeBodyLimit(config: Pick<WeftConfig, 'bodyLimitBytes' | 'maxOutputBytes'>): number {
  return Math.max(config.bodyLimitBytes, config.maxOutputBytes + COMPLETE_BODY_SLACK_BYTES);
}

/** The task routes of external workers. */
export const taskRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { tasks, engine, config, sightings }) => {
  app.post(
    '/tasks/poll',
    {
      config: { roles },
      schema: {
        tags,
        summary: 'Claim tasks of the given types, waiting up to wait_seconds for one to be queued',
        body: PollBody,
        response: { 200: Type.Object({ tasks: Type.Array(TaskSchema) }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      // A client that goes away stops waiting; a task claimed meanwhile goes back on lease expiry.
      const gone = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableEnded) gone.abort();
      });
      const body = request.body;
      const engineTypes = body.types.flatMap((type, index) =>
        engine.claimsType(type)
          ? [{ path: `/types/${index}`, message: `'${type}' is run by the server itself, not by workers` }]
          : [],
      );
      if (engineTypes.length > 0) {
        throw new WeftError('VALIDATION_FAILED', 'a poll may only name task types served by workers', {
          errors: engineTypes,
        });
      }
      const { workspace, key } = authOf(request);
      // Every valid poll counts as a sighting, with or without a task; throttled, it never fails the poll.
      const recorded = sightings.seen({
        workspaceId: workspace.id,
        workerId: body.worker_id,
        types: [...new Set(body.types)],
        keyId: key.id,
      });
      const claimed = await tasks.poll(
        workspace.id,
        {
          workerId: body.worker_id,
          keyId: key.id,
          types: body.types,
          waitSeconds: body.wait_seconds ?? 0,
          maxTasks: body.max_tasks ?? 1,
        },
        gone.signal,
      );
      // Written by now (well before a long poll ends): a poll's answer implies the worker is listed.
      await recorded;
      return { tasks: claimed };
    },
  );

  app.post(
    '/tasks/:id/heartbeat',
    {
      config: { roles },
      preValidation: emptyBodyDefault,
      schema: {
        tags,
        summary: 'Extend the lease; cancel_requested says to stop (the execution was cancelled)',
        params: TaskIdParams,
        body: EmptyBody,
        response: {
          200: Type.Object({ lease_expires_at: Timestamp, cancel_requested: Type.Boolean() }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => tasks.heartbeat(authOf(request).workspace.id, request.params.id),
  );

  app.post(
    '/tasks/:id/complete',
    {
      config: { roles },
      bodyLimit: completeBodyLimit(config),
      preValidation: emptyBodyDefault,
      // A body past even this limit never reaches the handler: the held attempt is failed here,
      // as an output over the cap would be, instead of waiting out its lease. The request is
      // authenticated by then (onRequest); the answer stays the 413 of the body limit.
      onError: async (request, _reply, error) => {
        if ((error as { code?: unknown }).code !== 'FST_ERR_CTP_BODY_TOO_LARGE') return;
        const auth = request.auth;
        const { id } = request.params as { id?: unknown };
        if (!auth || typeof id !== 'string') return;
        const length = Number(request.headers['content-length']);
        await tasks.refuseOversizedComplete(auth.workspace.id, id, Number.isSafeInteger(length) ? length : undefined);
      },
      schema: {
        tags,
        summary: 'Complete the task with its output; an output over WEFT_MAX_OUTPUT_BYTES fails the attempt (413)',
        params: TaskIdParams,
        body: CompleteBody,
        response: { ...settledResponses, ...errorResponses(413) },
      },
    },
    async (request) => tasks.complete(authOf(request).workspace.id, request.params.id, request.body.output),
  );

  app.post(
    '/tasks/:id/fail',
    {
      config: { roles },
      schema: {
        tags,
        summary: 'Fail this attempt (retried per the step policy when retryable, then the fallback)',
        params: TaskIdParams,
        body: FailBody,
        response: settledResponses,
      },
    },
    async (request) => {
      const { message, retryable, details } = request.body.error;
      return tasks.fail(authOf(request).workspace.id, request.params.id, {
        message,
        retryable: retryable ?? true,
        ...(details === undefined ? {} : { details }),
      });
    },
  );

  app.post(
    '/tasks/:id/release',
    {
      config: { roles },
      preValidation: emptyBodyDefault,
      schema: {
        tags,
        summary: 'Hand the task back to the queue without using up an attempt (worker shutdown)',
        params: TaskIdParams,
        body: EmptyBody,
        response: settledResponses,
      },
    },
    async (request) => tasks.release(authOf(request).workspace.id, request.params.id),
  );
};

/** A call without a body means `{}`. */
async function emptyBodyDefault(request: { body: unknown }): Promise<void> {
  request.body ??= {};
}
