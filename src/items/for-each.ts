import type { StepDefinition } from '../definition/definition-schema.js';
import { renderValue, type TemplateContext } from '../definition/render.js';
import type { ClaimedStep } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import { NonRetryableError, toStepError } from '../tasks/task-outcomes.js';
import type { StepItemRow } from './item-repository.js';

/**
 * `for_each` (SPEC §3.1), the runner's side: a claimed `for_each` step renders its array and
 * writes one pending row per element (its input is rendered only when the item runs); the settle
 * then leaves the step `waiting` and queues the first items. A claimed item is a ClaimedStep with
 * its element and index, run by the same runner with `item` and `index` bound.
 */

/** Items one `for_each` step may have unless configured (WEFT_FOR_EACH_MAX_ITEMS). */
export const DEFAULT_FOR_EACH_MAX_ITEMS = 10_000;
/** Items of one step running at once unless the step sets `concurrency`. */
export const DEFAULT_ITEM_CONCURRENCY = 10;

let maxItems = DEFAULT_FOR_EACH_MAX_ITEMS;

/** Sets the process's WEFT_FOR_EACH_MAX_ITEMS. */
export function configureForEach(options: { maxItems: number }): void {
  maxItems = options.maxItems;
}

/** A claimed item: the step's claim plus the element and its index. */
export interface ClaimedItem extends ClaimedStep {
  item_index: number;
  item: unknown;
}

/** Whether a claim is an item of a `for_each` step (not the step itself). */
export function isItemClaim(claimed: ClaimedStep): claimed is ClaimedItem {
  return typeof (claimed as Partial<ClaimedItem>).item_index === 'number';
}

/** The key of a running item in the engine (its step id comes first, so aborting a step aborts its items). */
export function itemRunKey(claimed: ClaimedItem): string {
  return `${claimed.execution_id}/${claimed.step_id}#item${claimed.item_index}#${claimed.attempts}`;
}

/** The fields of a claim that come from the item row, not its step. */
type ItemAttemptField =
  | 'status'
  | 'attempt_type'
  | 'attempts'
  | 'attempt_base'
  | 'lost_attempts'
  | 'used_fallback'
  | 'input'
  | 'output'
  | 'error'
  | 'run_at'
  | 'lease_owner'
  | 'lease_expires_at'
  | 'queued_at'
  | 'started_at'
  | 'completed_at'
  | 'previous_status';

/** A claimed item row as the runner sees it, with its step's and execution's data. */
export function claimedItem(
  row: StepItemRow & { previous_status: string },
  step: Omit<ClaimedStep, ItemAttemptField>,
): ClaimedItem {
  return {
    ...step,
    status: 'running',
    attempt_type: row.attempt_type,
    attempts: row.attempts,
    attempt_base: row.attempt_base,
    lost_attempts: 0,
    used_fallback: row.used_fallback,
    input: row.input,
    output: row.output,
    error: row.error,
    run_at: row.run_at === null ? null : Number(row.run_at),
    lease_owner: row.lease_owner,
    lease_expires_at: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
    queued_at: row.queued_at,
    started_at: row.started_at,
    completed_at: null,
    previous_status: row.previous_status,
    item_index: row.item_index,
    item: JSON.parse(row.item),
  };
}

/** What expanding a step came to: items written, or an outcome of the step itself. */
export type Expansion =
  | { kind: 'expanded'; total: number }
  | { kind: 'completed'; input: unknown; output: unknown }
  | { kind: 'failed'; input: unknown; error: ReturnType<typeof toStepError> };

/** What a value is, for messages. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 60)}`;
}

/**
 * Renders a step's `for_each` and writes its items (those already there from an earlier run of
 * the step keep their state, unless the array's length changed). Fails without retry when the
 * value is not an array or has more than WEFT_FOR_EACH_MAX_ITEMS elements.
 */
export async function expandForEach(
  claimed: ClaimedStep,
  step: StepDefinition,
  context: TemplateContext,
  store: Store,
): Promise<Expansion> {
  const forEach = step.for_each;
  let value: unknown;
  try {
    value = await renderValue(forEach, context);
  } catch (error) {
    if (store.isUnavailableError(error)) throw error;
    return fail(`for_each could not be rendered: ${(error as Error).message}`);
  }
  if (!Array.isArray(value)) return fail(`for_each must yield an array, got ${describe(value)}`);
  if (value.length > maxItems) {
    return fail(
      `for_each yielded ${value.length} items, more than the ${maxItems} allowed (WEFT_FOR_EACH_MAX_ITEMS); split the list`,
    );
  }
  if (value.length === 0) return { kind: 'completed', input: null, output: [] };
  const existing = await store.items.counts(claimed.execution_id, claimed.step_id);
  if (existing.total !== 0 && existing.total !== value.length) {
    await store.items.deleteOfStep(claimed.execution_id, claimed.step_id);
  }
  const rows: StepItemRow[] = value.map((item, index) => ({
    execution_id: claimed.execution_id,
    step_id: claimed.step_id,
    item_index: index,
    workspace_id: claimed.workspace_id,
    status: 'pending',
    item: JSON.stringify(item ?? null),
    attempt_type: step.type,
    attempts: 0,
    attempt_base: 0,
    used_fallback: 0,
    input: null,
    output: null,
    error: null,
    run_at: null,
    lease_owner: null,
    lease_expires_at: null,
    queued_at: null,
    started_at: null,
    completed_at: null,
    child_execution_id: null,
    lost_attempts: 0,
    waiting_signal: null,
  }));
  await store.items.insertMissing(rows);
  return { kind: 'expanded', total: rows.length };
}

function fail(message: string): Expansion {
  return { kind: 'failed', input: null, error: toStepError(new NonRetryableError(message)) };
}
