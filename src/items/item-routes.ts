import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiContext } from '../api/api-context.js';
import { authOf } from '../api/auth.js';
import { errorResponses, PageOf, PageQuery, Timestamp } from '../api/schemas.js';
import { notFound } from '../errors.js';
import { DEFAULT_PAGE_SIZE, decodeCursor, encodeCursor } from '../store/pagination.js';
import type { ItemCounts, StepItemRow } from './item-repository.js';

/**
 * `GET /executions/{id}/steps/{step_id}/items` (SPEC §3.1): the items of a `for_each` step, by
 * index, filtered by status, in cursor pages; and the `items` counts of a step view.
 */

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

const ITEM_STATUSES = ['pending', 'queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'];

const ItemSchema = Type.Object(
  {
    index: Type.Integer(),
    status: Type.String(),
    attempts: Type.Integer(),
    output: Type.Unknown(),
    error: Type.Unknown(),
    started_at: Nullable(Timestamp),
    completed_at: Nullable(Timestamp),
    child_execution_id: Nullable(
      Type.String({ description: "A `workflow` step: the child execution of this item's current attempt." }),
    ),
    waiting_for_signal: Nullable(
      Type.String({ description: 'A `wait_for_signal` step while the item is `waiting`: the signal name.' }),
    ),
  },
  { title: 'Step item' },
);

/** The `items` counts of a `for_each` step in an execution view. */
export const ItemCountsSchema = Type.Object(
  {
    total: Type.Integer(),
    pending: Type.Integer({ description: 'Not started yet (queued ones included).' }),
    running: Type.Integer({ description: 'Running, or waiting on a timer.' }),
    completed: Type.Integer(),
    failed: Type.Integer(),
    cancelled: Type.Integer(),
  },
  { title: 'Item counts', description: 'A `for_each` step: its items by status (once they are written).' },
);

/** The view of a step's item counts. */
export function itemCountsView(counts: ItemCounts) {
  return {
    total: counts.total,
    pending: counts.pending + counts.queued,
    running: counts.running + counts.waiting,
    completed: counts.completed,
    failed: counts.failed,
    cancelled: counts.cancelled,
  };
}

function parse(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

function itemView(row: StepItemRow) {
  return {
    index: row.item_index,
    status: row.status,
    attempts: row.attempts,
    output: parse(row.output),
    error: parse(row.error),
    started_at: row.started_at,
    completed_at: row.completed_at,
    child_execution_id: row.child_execution_id,
    waiting_for_signal: row.status === 'waiting' ? row.waiting_signal : null,
  };
}

/** The items route, within the acting workspace. */
export const itemRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { store }) => {
  app.get(
    '/executions/:id/steps/:step_id/items',
    {
      schema: {
        tags: ['executions'],
        summary: 'The items of a for_each step, by index',
        params: Type.Object({ id: Type.String(), step_id: Type.String() }),
        querystring: Type.Object({
          ...PageQuery,
          status: Type.Optional(Type.Union(ITEM_STATUSES.map((status) => Type.Literal(status)))),
        }),
        response: { 200: PageOf(ItemSchema, 'Item page'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { workspace } = authOf(request);
      const { id, step_id: stepId } = request.params;
      const execution = await store.executions.get(workspace.id, id);
      if (!execution) throw notFound('execution', id);
      if (!(await store.steps.get(execution.id, stepId))) throw notFound('step', stepId);
      const limit = request.query.limit ?? DEFAULT_PAGE_SIZE;
      const after = request.query.cursor === undefined ? undefined : Number(decodeCursor(request.query.cursor));
      const rows = await store.items.page(execution.id, stepId, {
        status: request.query.status,
        afterIndex: after !== undefined && Number.isInteger(after) ? after : undefined,
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(itemView),
        next_cursor: rows.length > limit && last ? encodeCursor(String(last.item_index)) : null,
      };
    },
  );
};
