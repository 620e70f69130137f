import type { WorkflowDefinition } from '../definition/definition-schema.js';
import { renderValue } from '../definition/render.js';
import { WeftError } from '../errors.js';

/** A workflow's `concurrency` block with its defaults applied (SPEC §3.1). */
export interface ConcurrencyRule {
  limit: number;
  /** The key template; undefined: every execution of the workflow shares one key. */
  key: string | undefined;
  strategy: 'queue' | 'cancel_newest' | 'cancel_in_progress';
}

/** The longest rendered key; a longer one is a 400 at start (keys are indexed). */
export const MAX_CONCURRENCY_KEY_LENGTH = 256;

/** The concurrency rule of a definition, or undefined when it has none. */
export function concurrencyRuleOf(definition: WorkflowDefinition): ConcurrencyRule | undefined {
  const block = definition.concurrency;
  if (!block) return undefined;
  return { limit: block.limit, key: block.key, strategy: block.strategy ?? 'queue' };
}

/**
 * The group a workflow's executions count in: the workflow (its versions share the slots), or,
 * for ad-hoc executions, the workspace and definition name.
 */
export function concurrencyGroupOf(workspaceId: string, workflowId: string | null, name: string): string {
  return workflowId ?? `adhoc:${workspaceId}:${name}`;
}

/**
 * Renders the key template over the start's input ('' without a template). A key that cannot
 * render, renders to nothing, or is longer than 256 characters is a 400 at `/input`: the input
 * decides the key.
 */
export async function renderConcurrencyKey(rule: ConcurrencyRule, input: unknown): Promise<string> {
  if (rule.key === undefined) return '';
  let value: unknown;
  try {
    value = await renderValue(rule.key, {
      input,
      steps: {},
      execution: { id: '', workflow_id: null, version: null, labels: {} },
    });
  } catch (error) {
    throw keyError(`the concurrency key could not be rendered from the input: ${(error as Error).message}`);
  }
  const key = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  if (key === '') throw keyError(`the concurrency key '${rule.key}' renders to nothing for this input`);
  if (key.length > MAX_CONCURRENCY_KEY_LENGTH) {
    throw keyError(`the concurrency key renders to ${key.length} characters; at most ${MAX_CONCURRENCY_KEY_LENGTH}`);
  }
  return key;
}

function keyError(message: string): WeftError {
  return new WeftError('VALIDATION_FAILED', message, { errors: [{ path: '/input', message }] });
}
