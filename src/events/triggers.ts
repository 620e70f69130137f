import { Cron } from 'croner';
import type { TriggerDefinition } from '../definition/definition-schema.js';
import { checkInput } from '../definition/input-validation.js';
import { evaluateExpression, getPath, isTruthy } from '../definition/render.js';
import type { Engine } from '../engine/engine.js';
import {
  IDEMPOTENCY_WINDOW_MS,
  insertExecutions,
  type PreparedExecution,
  prepareExecution,
  withConcurrencyKey,
} from '../engine/lifecycle.js';
import { WeftError } from '../errors.js';
import { newId, nowIso } from '../ids.js';
import type { PostedEvent } from '../store/repositories/event-repository.js';
import type { WorkflowTriggers } from '../store/repositories/trigger-repository.js';
import type { Store } from '../store/store.js';
import type { Workflow } from '../types.js';

/**
 * Event triggers (SPEC §1, §5): `POST /events {type, data}` starts every enabled workflow of the
 * workspace with a trigger for that type whose `match` and `condition` hold, with the event's
 * data as input, all in one transaction with the stored event, so a repeated `Idempotency-Key`
 * returns the first answer and a crash starts all or nothing. Also keeps the trigger index
 * (`workflow_triggers`, `schedules`) in step with each workflow.
 */

/** What a posted event came to. */
export interface EventOutcome {
  event_id: string;
  executions: string[];
  /** Workflows whose trigger matched but that did not start, and why (e.g. input_schema). */
  skipped: Array<{ workflow_id: string; reason: string }>;
  /** True when an earlier post with the same idempotency key answered this. */
  repeated: boolean;
}

/**
 * Whether `actual` matches a `match` value: an array is any-of, an object a subset (recursively),
 * anything else equality; an array actual value matches when one of its items does.
 */
export function matchesValue(expected: unknown, actual: unknown): boolean {
  if (Array.isArray(expected)) return expected.some((option) => matchesValue(option, actual));
  if (Array.isArray(actual)) return actual.some((item) => matchesValue(expected, item));
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return false;
    return Object.entries(expected).every(([key, value]) =>
      matchesValue(value, (actual as Record<string, unknown>)[key]),
    );
  }
  return expected === actual;
}

/** Whether an event satisfies a trigger's `match` (an AND over dotted paths of `data`). */
export function matchesTrigger(trigger: TriggerDefinition, data: unknown): boolean {
  return Object.entries(trigger.match ?? {}).every(([path, expected]) => {
    const actual = getPath(data, path);
    return actual !== undefined && matchesValue(expected, actual);
  });
}

/** The next fire time of a cron expression after `after` (epoch ms), if it fires again. */
export function nextFireAt(cron: string, timezone: string, after: number): number | undefined {
  const schedule = new Cron(cron, { paused: true, timezone });
  const next = schedule.nextRun(new Date(after));
  schedule.stop();
  return next?.getTime();
}

/** What a workflow's latest definition asks the trigger index for. */
function wantedTriggers(workflow: Workflow, now: number): WorkflowTriggers {
  const wanted: WorkflowTriggers = { events: [], schedules: [] };
  if (!workflow.enabled || workflow.deleted_at !== null) return wanted;
  const triggers = (workflow.definition.triggers ?? []) as TriggerDefinition[];
  triggers.forEach((trigger, index) => {
    if (trigger.enabled === false) return;
    if (trigger.event !== undefined) wanted.events.push({ index, eventType: trigger.event });
    if (trigger.cron !== undefined) {
      const timezone = trigger.timezone ?? 'UTC';
      const next = nextFireAt(trigger.cron, timezone, now);
      if (next !== undefined) wanted.schedules.push({ index, cron: trigger.cron, timezone, nextFireAt: next });
    }
  });
  return wanted;
}

/**
 * Rebuilds a workflow's entries in the trigger index (call in the transaction that changed it).
 * `isNew`: the workflow was just created, so a definition without triggers needs no write.
 */
export async function syncTriggers(tx: Store, workflow: Workflow, isNew = false): Promise<void> {
  const wanted = wantedTriggers(workflow, Date.now());
  if (isNew && wanted.events.length === 0 && wanted.schedules.length === 0) return;
  await tx.triggers.replace(workflow.workspace_id, workflow.id, wanted);
}

/** Whether a workflow's definition has a cron trigger (only those have a next fire time). */
export function hasSchedule(workflow: Workflow): boolean {
  const triggers = (workflow.definition.triggers ?? []) as TriggerDefinition[];
  return triggers.some((trigger) => trigger.cron !== undefined);
}

/** A triggered start: the latest version of an enabled workflow, `input` as its input. */
export async function prepareTriggeredStart(
  tx: Store,
  workflow: Workflow,
  input: unknown,
  trigger: Record<string, unknown>,
  checkedInput?: { input: unknown } | WeftError,
): Promise<PreparedExecution> {
  const definition = await tx.workflows.versionDefinition(workflow.id, workflow.version);
  if (!definition) throw new Error(`workflow ${workflow.id} has no version ${workflow.version}`);
  if (checkedInput instanceof WeftError) throw checkedInput;
  return prepareExecution(
    await withConcurrencyKey({
      workspaceId: workflow.workspace_id,
      workflow: { id: workflow.id, version: workflow.version, definition },
      adhocDefinition: undefined,
      input: checkedInput ? checkedInput.input : input,
      inputChecked: checkedInput !== undefined,
      start: true,
      labels: {},
      reference: null,
      webhookUrl: workflow.webhook_url,
      trigger: JSON.stringify(trigger),
    }),
  );
}

/** What a trigger's condition came to: holds, does not, or failed (with why). */
type ConditionResult = { holds: boolean; failure?: string };

/** What was decided about a matching trigger before the event's transaction. */
interface Precheck {
  condition?: ConditionResult;
  /** The input checked against the input_schema, or the 400 it gives. */
  input?: { input: unknown } | WeftError;
}

/** Keys prechecks by workflow version and trigger, so a workflow changed meanwhile is checked anew. */
function precheckKey(workflow: Workflow, index: number): string {
  return `${workflow.id}/${workflow.version}/${index}`;
}

async function evaluateCondition(condition: string, event: unknown): Promise<ConditionResult> {
  try {
    return { holds: isTruthy(await evaluateExpression(condition, event)) };
  } catch (error) {
    return { holds: false, failure: (error as Error).message };
  }
}

/**
 * Evaluates the conditions of the triggers an event may fire, and checks the event's data against
 * their workflows' input_schema, before its transaction: a condition may run up to the expression
 * time budget and a big input may be validated off the loop, while on SQLite a transaction holds
 * the one write lock.
 */
async function precheckTriggers(
  store: Store,
  workspaceId: string,
  event: { id: string; type: string; data: unknown },
): Promise<Map<string, Precheck>> {
  const prechecks = new Map<string, Precheck>();
  for (const { workflow_id: workflowId, trigger_index: index } of await store.triggers.eventTriggers(
    workspaceId,
    event.type,
  )) {
    const workflow = await store.workflows.get(workspaceId, workflowId);
    const trigger = (workflow?.definition.triggers as TriggerDefinition[] | undefined)?.[index];
    if (!workflow?.enabled || !trigger || !matchesTrigger(trigger, event.data)) continue;
    const precheck: Precheck = {};
    if (trigger.condition !== undefined) precheck.condition = await evaluateCondition(trigger.condition, event);
    const schema = workflow.definition.input_schema;
    if (schema !== undefined && (precheck.condition?.holds ?? true)) {
      try {
        precheck.input = { input: await checkInput(schema, event.data ?? {}) };
      } catch (error) {
        if (!(error instanceof WeftError)) throw error;
        precheck.input = error;
      }
    }
    prechecks.set(precheckKey(workflow, index), precheck);
  }
  return prechecks;
}

/**
 * Stores an event and starts the workflows its triggers match. A condition that fails (an error,
 * or an expression limit) counts as not matching: the workflow is listed in `skipped` with the
 * reason, and `onConditionFailure` hears of it (the API logs it).
 */
export async function postEvent(
  store: Store,
  engine: Pick<Engine, 'wake'>,
  workspaceId: string,
  event: { type: string; data: unknown; idempotencyKey: string | undefined },
  onConditionFailure: (failure: { workflow_id: string; trigger_index: number; reason: string }) => void = () => {},
): Promise<EventOutcome> {
  const id = newId('ev');
  const subject = { id, type: event.type, data: event.data };
  const prechecks = await precheckTriggers(store, workspaceId, subject);
  const outcome = await store.transaction(async (tx) => {
    const createdAt = nowIso();
    const inserted = await tx.events.insertUnlessRepeated(
      {
        id,
        workspace_id: workspaceId,
        type: event.type,
        data: JSON.stringify(event.data ?? null),
        idempotency_key: event.idempotencyKey ?? null,
        executions: '[]',
        created_at: createdAt,
      },
      new Date(Date.now() - IDEMPOTENCY_WINDOW_MS).toISOString(),
    );
    if (!inserted) {
      const first = await tx.events.byIdempotencyKey(workspaceId, event.idempotencyKey ?? '');
      if (!first) throw new WeftError('CONFLICT', 'an event with this Idempotency-Key is being recorded; retry');
      return repeatedOutcome(first, event.type);
    }
    const prepared: PreparedExecution[] = [];
    const skipped: EventOutcome['skipped'] = [];
    for (const { workflow_id: workflowId, trigger_index: index } of await tx.triggers.eventTriggers(
      workspaceId,
      event.type,
    )) {
      const workflow = await tx.workflows.get(workspaceId, workflowId);
      const trigger = (workflow?.definition.triggers as TriggerDefinition[] | undefined)?.[index];
      if (!workflow?.enabled || !trigger || trigger.event !== event.type) continue;
      if (!matchesTrigger(trigger, event.data)) continue;
      // Checked here only when the workflow changed since the prechecks.
      const precheck = prechecks.get(precheckKey(workflow, index));
      if (trigger.condition !== undefined) {
        const result = precheck?.condition ?? (await evaluateCondition(trigger.condition, subject));
        if (result.failure !== undefined) {
          const reason = `condition failed: ${result.failure}`;
          onConditionFailure({ workflow_id: workflowId, trigger_index: index, reason });
          skipped.push({ workflow_id: workflowId, reason });
          continue;
        }
        if (!result.holds) continue;
      }
      try {
        const triggerRecord = { type: 'event', event_id: id, event_type: event.type, trigger_index: index };
        prepared.push(await prepareTriggeredStart(tx, workflow, event.data ?? {}, triggerRecord, precheck?.input));
      } catch (error) {
        if (!(error instanceof WeftError)) throw error;
        const detail = error.errors?.map((item) => `${item.path}: ${item.message}`).join('; ');
        skipped.push({ workflow_id: workflowId, reason: detail ? `${error.message} (${detail})` : error.message });
      }
    }
    await insertExecutions(tx, prepared);
    const executions = prepared.map((entry) => entry.execution.id);
    await tx.events.setExecutions(id, executions);
    return { event_id: id, executions, skipped, repeated: false };
  });
  if (outcome.executions.length > 0) engine.wake();
  return outcome;
}

function repeatedOutcome(first: PostedEvent, type: string): EventOutcome {
  if (first.type !== type) {
    throw new WeftError(
      'CONFLICT',
      `the Idempotency-Key was used for an event of type '${first.type}' within 24 hours; use a new key`,
    );
  }
  return { event_id: first.id, executions: first.executions, skipped: [], repeated: true };
}
