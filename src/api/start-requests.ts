import { type Static, Type } from 'typebox';
import type { WorkflowDefinition } from '../definition/definition-schema.js';
import type { Engine } from '../engine/engine.js';
import type { StartExecution } from '../engine/lifecycle.js';
import { notFound, WeftError } from '../errors.js';
import type { Store } from '../store/store.js';
import { LabelsSchema, WebhookUrlSchema } from './schemas.js';

/**
 * What the start routes share (`POST /workflows/{id}/executions` and its `/batch`): the fields of
 * one start, the workflow a start names, and the engine's start request built from both.
 */

/** The fields of one start. */
export const StartFields = {
  input: Type.Optional(Type.Unknown({ description: 'Checked against the input_schema.' })),
  start: Type.Optional(Type.Boolean({ default: true, description: 'false creates it `pending`; start it later.' })),
  webhook_url: Type.Optional(WebhookUrlSchema),
  labels: Type.Optional(LabelsSchema),
  reference: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Your own id, filterable.' })),
  idempotency_key: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      description: 'Same as the Idempotency-Key header: a repeat within 24 hours returns the first execution.',
    }),
  ),
};

const StartFieldsSchema = Type.Object(StartFields);

/** A saved workflow's version, ready to start. */
export interface StartableWorkflow {
  id: string;
  name: string;
  version: number;
  webhookUrl: string | null;
  definition: WorkflowDefinition;
}

/**
 * The workflow (at `version`, else its latest) a start names: 404 when the workspace has no such
 * workflow or version, 409 when it is disabled. One query; the definition comes compiled from the
 * engine's cache of versions.
 */
export async function startableWorkflow(
  store: Store,
  engine: Engine,
  workspaceId: string,
  id: string,
  version: number | undefined,
): Promise<StartableWorkflow> {
  const workflow = await store.workflows.head(workspaceId, id, version);
  if (!workflow?.exists) throw notFound('workflow', id);
  if (!workflow.enabled) {
    throw new WeftError('CONFLICT', `workflow '${workflow.id}' is disabled; enable it to start executions`);
  }
  const compiled = await engine.compiledVersion(workflow.id, workflow.version);
  if (!compiled) throw notFound('workflow version', String(workflow.version));
  return {
    id: workflow.id,
    name: workflow.name,
    version: workflow.version,
    webhookUrl: workflow.webhook_url,
    definition: compiled.definition,
  };
}

/** The engine's request for one start of `workflow` (its idempotency key is the caller's). */
export function startOf(
  workspaceId: string,
  workflow: StartableWorkflow,
  fields: Static<typeof StartFieldsSchema>,
): StartExecution {
  return {
    workspaceId,
    workflow: { id: workflow.id, version: workflow.version, definition: workflow.definition },
    adhocDefinition: undefined,
    input: fields.input ?? {},
    start: fields.start ?? true,
    labels: fields.labels ?? {},
    reference: fields.reference ?? null,
    webhookUrl: fields.webhook_url ?? workflow.webhookUrl,
    trigger: null,
  };
}
