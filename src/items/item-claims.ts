import type { ExecutionRow } from '../store/database-schema.js';
import type { ClaimFilter } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import { type ClaimedItem, claimedItem } from './for-each.js';
import type { StepItemRow } from './item-repository.js';

/**
 * The engine's second claim: due items of `for_each` steps, taken by the same claim loop as steps
 * (and under the same slots), so 10,000 items wait as rows, never in memory.
 */
export async function claimItems(
  tx: Store,
  owner: string,
  now: number,
  leaseUntil: number,
  startedAt: string,
  limit: number,
  filter: ClaimFilter,
): Promise<ClaimedItem[]> {
  const rows = await tx.items.claimDue(owner, now, leaseUntil, startedAt, limit, filter);
  if (rows.length === 0) return [];
  const executions = new Map<string, Awaited<ReturnType<Store['executions']['getById']>>>();
  for (const id of new Set(rows.map((row) => row.execution_id))) executions.set(id, await tx.executions.getById(id));
  return rows.flatMap((row) => {
    const execution = executions.get(row.execution_id);
    return execution ? [claimedItem(row, itemClaimBase(row, execution))] : [];
  });
}

/** What a claimed item takes from its execution (and, for the runner, from a step claim). */
export function itemClaimBase(row: StepItemRow, execution: ExecutionRow) {
  return {
    execution_id: row.execution_id,
    step_id: row.step_id,
    workspace_id: row.workspace_id,
    position: 0,
    type: row.attempt_type,
    skip_reason: null,
    deps_total: 0,
    deps_settled: 0,
    deps_completed: 0,
    child_execution_id: row.child_execution_id,
    execution_status: execution.status,
    execution_input: execution.input,
    execution_labels: execution.labels,
    workflow_id: execution.workflow_id,
    workflow_version: execution.workflow_version,
    adhoc_definition: execution.adhoc_definition,
  };
}
