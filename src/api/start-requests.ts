import { type Static, Type } from 'typebox';
import type { WorkflowDefinition } from '../definition/definition-schema.js';
import type { Engine } from '../engine/engine.js';
import type { StartExecution } from '../engine/lifecycle.js';
import { StaleWorkflowError } from '../engine/workflow-heads.js';
import { notFound, WeftError } from '../errors.js';
import type { WorkflowHead } from '../store/repositories/workflow-repository.js';
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
  /** The head it was read from, checked again when the start is inserted. */
  head: WorkflowHead;
}

/**
 * The workflow (at `version`, else its latest) a start names: 404 when the workspace has no such
 * workflow or version, 409 when it is disabled. The head comes from the engine's cache of heads
 * (engine/workflow-heads.ts), read again before a 404 or 409 is answered from it; the definition
 * from the engine's cache of compiled versions.
 */
export async function startableWorkflow(
  store: Store,
  engine: Engine,
  workspaceId: string,
  id: string,
  version: number | undefined,
): Promise<StartableWorkflow> {
  for (let fresh = false; ; fresh = true) {
    const head = await engine.workflowHeads.get(store, workspaceId, id);
    const runs = head && (version ?? head.latestVersion);
    const compiled =
      head?.enabled && runs !== undefined && runs <= head.latestVersion
        ? await engine.compiledVersion(head.id, runs)
        : undefined;
    if (head && runs !== undefined && compiled) {
      return {
        id: head.id,
        name: head.name,
        version: runs,
        webhookUrl: head.webhookUrl,
        definition: compiled.definition,
        head,
      };
    }
    if (!fresh && head) {
      // A refusal from a kept head is checked against a fresh one: another process may have
      // enabled the workflow or added the version since.
      engine.workflowHeads.forget(workspaceId, id);
      continue;
    }
    engine.workflowHeads.forget(workspaceId, id);
    if (!head) throw notFound('workflow', id);
    if (!head.enabled) {
      throw new WeftError('CONFLICT', `workflow '${head.id}' is disabled; enable it to start executions`);
    }
    throw notFound('workflow version', String(runs));
  }
}

/** Starts allowed per request when the workflow keeps changing under them (see `startFromHead`). */
const STALE_RETRIES = 3;

/** Which workflow a start names, and where to find it. */
export interface StartTarget {
  store: Store;
  engine: Engine;
  workspaceId: string;
  workflowId: string;
  /** The version asked for; the latest when undefined. */
  version: number | undefined;
}

/**
 * Runs `start` with the workflow a start names, and again from a fresh read of the workflow when
 * the insert found that it changed since it was read (`StaleWorkflowError`); a workflow that
 * changes under every try is a 409. Answers the workflow it started and what `start` answered.
 */
export async function startFromHead<T>(
  target: StartTarget,
  start: (workflow: StartableWorkflow) => Promise<T>,
): Promise<{ workflow: StartableWorkflow; value: T }> {
  const { store, engine, workspaceId, workflowId, version } = target;
  for (let tries = 1; ; tries++) {
    const workflow = await startableWorkflow(store, engine, workspaceId, workflowId, version);
    try {
      return { workflow, value: await start(workflow) };
    } catch (error) {
      if (!(error instanceof StaleWorkflowError)) throw error;
      engine.workflowHeads.forget(workspaceId, workflowId);
      if (tries === STALE_RETRIES) {
        throw new WeftError(
          'CONFLICT',
          `workflow '${workflowId}' kept changing while the execution was started; start it again`,
        );
      }
    }
  }
}

/** The engine's request for one start of `workflow` (its idempotency key is the caller's). */
export function startOf(
  workspaceId: string,
  workflow: StartableWorkflow,
  fields: Static<typeof StartFieldsSchema>,
): StartExecution {
  return {
    workspaceId,
    workflow: { id: workflow.id, version: workflow.version, definition: workflow.definition, head: workflow.head },
    adhocDefinition: undefined,
    input: fields.input ?? {},
    start: fields.start ?? true,
    labels: fields.labels ?? {},
    reference: fields.reference ?? null,
    webhookUrl: fields.webhook_url ?? workflow.webhookUrl,
    trigger: null,
  };
}
