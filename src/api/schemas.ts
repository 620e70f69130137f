import { type TSchema, Type } from 'typebox';
import { StringEnum } from '../definition/definition-schema.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../store/pagination.js';
import { ROLES } from '../types.js';

/** Schemas shared by the routes: they validate, type and document requests and responses. */

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'Problem type URI (urn:weft:problem:<code>).' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Registered error code, see docs/errors.md.' }),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.String({ description: 'JSON Pointer into the body, or query/<name>, params/<name>.' }),
          message: Type.String(),
        }),
      ),
    ),
  },
  { title: 'Problem (RFC 9457)' },
);

/** Standard error responses, for the OpenAPI document. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((status) => [status, ProblemSchema]));
}

/**
 * A string answered from a known set (statuses, event types): an `enum` in the document, so
 * generated clients get a union, while the handler's type stays `string` (rows hold text).
 */
export function OneOf(values: readonly string[], options: Record<string, unknown> = {}) {
  return Type.String({ enum: [...values], ...options });
}

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
};

/** `{items, next_cursor}` of a list. */
export function PageOf<T extends TSchema>(item: T, title: string) {
  return Type.Object({ items: Type.Array(item), next_cursor: Type.Union([Type.String(), Type.Null()]) }, { title });
}

/** A workflow version number as requests carry it (integer columns are 32-bit). */
export const VersionNumber = Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 });

/**
 * Labels as requests set them: up to 64 keys of 1–100 characters, values up to 1,000. The key
 * limits are a `propertyNames` schema: TypeBox turns a `Record` key schema into the pattern
 * `^.*$` and drops its lengths.
 */
export const LabelsSchema = Type.Record(Type.String(), Type.String({ maxLength: 1000 }), {
  maxProperties: 64,
  propertyNames: { type: 'string', minLength: 1, maxLength: 100 },
});

/** A webhook URL a request sets: http(s) only. */
export const WebhookUrlSchema = Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2000 });

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });

export const Timestamp = Type.String({ format: 'date-time' });

export const WorkspaceSchema = Type.Object(
  { id: Type.String(), slug: Type.String(), name: Type.String(), created_at: Timestamp },
  { title: 'Workspace' },
);

export const RoleSchema = StringEnum(ROLES);

export const ApiKeySchema = Type.Object(
  {
    id: Type.String(),
    workspace_id: Type.String(),
    name: Type.String(),
    role: RoleSchema,
    prefix: Type.String({ description: 'First characters of the key.' }),
    created_at: Timestamp,
    last_used_at: Type.Union([Timestamp, Type.Null()]),
  },
  { title: 'API key' },
);

export const JsonObject = Type.Record(Type.String(), Type.Unknown());

export const WorkflowSchema = Type.Object(
  {
    id: Type.String(),
    workspace_id: Type.String(),
    name: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    version: Type.Integer({ description: 'Version of the returned definition.' }),
    latest_version: Type.Integer(),
    enabled: Type.Boolean(),
    labels: Type.Record(Type.String(), Type.String()),
    webhook_url: Type.Union([Type.String(), Type.Null()]),
    definition: JsonObject,
    next_fire_at: Type.Optional(
      Type.Union([Timestamp, Type.Null()], { description: 'When a cron trigger starts it next; null without one.' }),
    ),
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: Type.Union([Timestamp, Type.Null()]),
  },
  { title: 'Workflow' },
);

/** The newest execution of a workflow, as the workflow list shows it. */
export const LastExecutionSchema = Type.Object(
  {
    id: Type.String(),
    status: Type.String(),
    created_at: Timestamp,
    completed_at: Type.Union([Timestamp, Type.Null()]),
  },
  { title: 'Last execution' },
);

/** A workflow in `GET /workflows`: the workflow and its newest execution (not deleted), or null. */
export const WorkflowListItemSchema = Type.Object(
  {
    ...WorkflowSchema.properties,
    last_execution: Type.Union([LastExecutionSchema, Type.Null()], {
      description: 'Its newest execution that is not deleted (cleaned up); null when it has none.',
    }),
  },
  { title: 'Workflow list item' },
);

export const FieldErrorSchema = Type.Object({ path: Type.String(), message: Type.String() });

/** A workflow as create and PUT answer it: with its definition's validation warnings. */
export const WrittenWorkflowSchema = Type.Object(
  {
    ...WorkflowSchema.properties,
    warnings: Type.Array(FieldErrorSchema, {
      description: 'What validation warned of (as `POST /workflows/validate` lists it); saved all the same.',
    }),
  },
  { title: 'Written workflow' },
);
