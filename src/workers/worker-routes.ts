import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiContext } from '../api/api-context.js';
import { authOf } from '../api/auth.js';
import { errorResponses, PageOf, PageQuery, Timestamp } from '../api/schemas.js';
import { DEFAULT_PAGE_SIZE } from '../store/pagination.js';
import type { ListedWorker } from './worker-repository.js';
import { retentionCutoff, SIGHTING_INTERVAL_MS, WORKER_ACTIVE_SECONDS } from './worker-sightings.js';

/** `GET /workers`: the workers that polled the workspace for tasks recently (docs/workers.md). */

const WorkerSchema = Type.Object(
  {
    worker_id: Type.String({ description: 'The `worker_id` its polls carry.' }),
    types: Type.Array(Type.String(), { description: 'The task types of its latest recorded poll.' }),
    key_id: Type.Union([Type.String(), Type.Null()], { description: 'The API key of that poll.' }),
    key_name: Type.Union([Type.String(), Type.Null()], { description: "That key's name; null once it is deleted." }),
    first_seen_at: Timestamp,
    last_poll_at: Type.String({
      format: 'date-time',
      description: `Its latest recorded poll: recorded at most every ${SIGHTING_INTERVAL_MS / 1000} s per server process.`,
    }),
    active: Type.Boolean({ description: `It polled within the last ${WORKER_ACTIVE_SECONDS} s.` }),
  },
  { title: 'Worker' },
);

const ListQuery = Type.Object({
  ...PageQuery,
  active: Type.Optional(
    Type.Boolean({
      description: `true: only workers that polled within ${WORKER_ACTIVE_SECONDS} s; false: only the others.`,
    }),
  ),
});

function viewOf(row: ListedWorker, activeSince: string) {
  return {
    worker_id: row.worker_id,
    types: JSON.parse(row.types) as string[],
    key_id: row.key_id,
    key_name: row.key_name,
    first_seen_at: row.first_seen_at,
    last_poll_at: row.last_poll_at,
    active: row.last_poll_at >= activeSince,
  };
}

/** The workers routes. */
export const workerRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store }) => {
  app.get(
    '/workers',
    {
      schema: {
        tags: ['workers'],
        summary: 'Workers that polled for tasks in the last 7 days, latest poll first',
        querystring: ListQuery,
        response: { 200: PageOf(WorkerSchema, 'Worker page'), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const now = Date.now();
      const activeSince = new Date(now - WORKER_ACTIVE_SECONDS * 1000).toISOString();
      const { active, limit, cursor } = request.query;
      const page = await store.workers.list(
        authOf(request).workspace.id,
        {
          seenSince: retentionCutoff(now),
          active: active === undefined ? undefined : { since: activeSince, value: active },
        },
        { limit: limit ?? DEFAULT_PAGE_SIZE, cursor },
      );
      return { items: page.items.map((row) => viewOf(row, activeSince)), next_cursor: page.next_cursor };
    },
  );
};
