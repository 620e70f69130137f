import { newId, nowIso } from '../ids.js';
import { isItemRequest } from '../items/item-settle.js';
import type { ExecutionEventRow } from '../store/database-schema.js';
import {
  isFallback,
  ONE_STATEMENT_LIMIT,
  type OneStatementCandidate,
  type OneStatementCompletion,
} from '../store/repositories/one-statement-settle-repository.js';
import type { SettleEdge } from '../store/repositories/settle-counter-repository.js';
import { StepRepository } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import type { CompiledWorkflow } from './compiled-workflow.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from './output-cap.js';
import { type SettleEnvironment, type SettleRequest, type SettleResult, withCappedOutput } from './settle.js';
import { completedAttemptRow, completedRows } from './settle-completed.js';

/**
 * The PostgreSQL settle of the common outcome, a completed step whose dependents this process
 * runs, in one statement instead of a transaction of five round trips
 * (one-statement-settle-repository.ts). It takes the outcomes it can: those of executions whose
 * outcomes in the batch all completed, each step with dependents of the `all_success` rule, of
 * types this process claims, and room for all of them here. The rest, and everything when the
 * statement finds a decision it leaves to the engine, go through the settle transaction.
 */

/** What the statement settled, and the outcomes left for the settle transaction. */
export interface OneStatementOutcome {
  result: SettleResult | undefined;
  rest: SettleRequest[];
}

/** Settles what it can of `requests` in one statement; returns the rest untouched. */
export async function settleInOneStatement(
  store: Store,
  requests: readonly SettleRequest[],
  env: SettleEnvironment,
): Promise<OneStatementOutcome> {
  if (!store.oneStatementSettle || env.capacity <= 0) return { result: undefined, rest: [...requests] };
  const cap = env.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const byExecution = new Map<string, SettleRequest[]>();
  for (const request of requests) {
    const capped = withCappedOutput(request, cap);
    const group = byExecution.get(capped.step.execution_id);
    if (group) group.push(capped);
    else byExecution.set(capped.step.execution_id, [capped]);
  }
  const taken: SettleRequest[] = [];
  const rest: SettleRequest[] = [];
  const roomLeft = new Map<string, number>();
  let room = env.capacity;
  let edges = 0;
  /** Each taken outcome's dependents, read once here for the statement's edges and claims. */
  const dependentsOf = new Map<SettleRequest, string[]>();
  for (const group of byExecution.values()) {
    const plan = await planOf(group, env, dependentsOf);
    // Every dependent of the execution's steps might become ready: it takes room for all.
    const workspaceId = group[0]?.step.workspace_id ?? '';
    const left = roomLeft.get(workspaceId) ?? env.workspaceRoom?.(workspaceId) ?? Number.POSITIVE_INFINITY;
    const fits =
      plan !== undefined &&
      plan.dependents <= Math.min(room, left) &&
      taken.length + group.length <= ONE_STATEMENT_LIMIT &&
      edges + plan.edges <= ONE_STATEMENT_LIMIT;
    if (!fits) {
      rest.push(...group);
      continue;
    }
    room -= plan.dependents;
    roomLeft.set(workspaceId, left - plan.dependents);
    edges += plan.edges;
    taken.push(...group);
  }
  if (taken.length === 0) return { result: undefined, rest };
  try {
    return { result: await settleTaken(store, taken, dependentsOf, env), rest };
  } catch (error) {
    if (isFallback(error)) return { result: undefined, rest: [...taken, ...rest] };
    throw error;
  }
}

/**
 * How many dependents and edges an execution's outcomes have when the statement can settle them
 * all; undefined when one of them needs the settle transaction.
 */
async function planOf(
  group: readonly SettleRequest[],
  env: SettleEnvironment,
  dependentsOf: Map<SettleRequest, string[]>,
): Promise<{ dependents: number; edges: number } | undefined> {
  const dependents = new Set<string>();
  let edges = 0;
  for (const request of group) {
    const ofStep = await eligibleDependents(request, env);
    if (ofStep === undefined) return undefined;
    dependentsOf.set(request, ofStep);
    edges += ofStep.length;
    for (const dependent of ofStep) dependents.add(dependent);
  }
  return { dependents: dependents.size, edges };
}

/** The dependents of a completed outcome's step when the statement can settle it, else undefined. */
async function eligibleDependents(request: SettleRequest, env: SettleEnvironment): Promise<string[] | undefined> {
  const { step, outcome } = request;
  if (outcome.kind !== 'completed' || isItemRequest(request)) return undefined;
  if (step.workflow_id === undefined || (step.workflow_id === null && !step.adhoc_definition)) return undefined;
  const workflow: CompiledWorkflow = await env.workflowOf({
    id: step.execution_id,
    workflow_id: step.workflow_id,
    workflow_version: step.workflow_version,
    adhoc_definition: step.adhoc_definition,
  });
  const dependents = workflow.dependents.get(step.step_id) ?? [];
  // A step without dependents may finish its execution, which the engine does.
  if (dependents.length === 0) return undefined;
  for (const dependent of dependents) {
    const definition = workflow.steps.get(dependent);
    if (!definition || (definition.run_if ?? 'all_success') !== 'all_success') return undefined;
    if (!env.claimsType?.(definition.type)) return undefined;
  }
  return dependents;
}

/** Runs the statement for outcomes that qualify; throws its deliberate failure to fall back. */
async function settleTaken(
  store: Store,
  taken: SettleRequest[],
  dependentsOf: ReadonlyMap<SettleRequest, readonly string[]>,
  env: SettleEnvironment,
): Promise<SettleResult> {
  const repository = store.oneStatementSettle;
  if (!repository) throw new Error('the one-statement settle needs PostgreSQL');
  const ordered = [...taken].sort((a, b) =>
    a.step.execution_id < b.step.execution_id ? -1 : a.step.execution_id > b.step.execution_id ? 1 : 0,
  );
  const rows = completedRows(ordered);
  const completions: OneStatementCompletion[] = ordered.map(({ step, outcome, endedAt }, index) => ({
    row: rows[index] as (typeof rows)[number],
    attempt: completedAttemptRow({ step, endedAt }, env),
    event: eventRow(step, 'step.completed', {
      status: 'completed',
      output: outcome.kind === 'completed' ? outcome.output : null,
    }),
  }));
  const edges: SettleEdge[] = [];
  const candidates: OneStatementCandidate[] = [];
  const seen = new Set<string>();
  for (const request of ordered) {
    const { step } = request;
    for (const dependent of dependentsOf.get(request) ?? []) {
      edges.push({ executionId: step.execution_id, source: step.step_id, dependent });
      const key = `${step.execution_id}/${dependent}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // The attempt number is the claim's: the statement appends it and the closing brace.
      const event = eventRow({ ...step, step_id: dependent }, 'step.started', { status: 'running', attempt: 0 });
      candidates.push({
        executionId: step.execution_id,
        stepId: dependent,
        event: { ...event, data: event.data.slice(0, -'0}'.length) },
      });
    }
  }
  const settled = await repository.settle({
    executionIds: [...new Set(ordered.map(({ step }) => step.execution_id))],
    completions,
    owner: env.owner,
    edges,
    candidates,
    claimOwner: env.claimOwner ?? env.owner,
    leaseUntil: Date.now() + env.leaseMs,
    at: nowIso(),
  });
  // A claim needs its execution running; the rest of the execution's row is the outcome's claim's.
  const executions = new Map(
    ordered.map(({ step }) => [
      step.execution_id,
      {
        id: step.execution_id,
        status: 'running',
        input: step.execution_input,
        labels: step.execution_labels,
        workflow_id: step.workflow_id,
        workflow_version: step.workflow_version,
        adhoc_definition: step.adhoc_definition,
      },
    ]),
  );
  return {
    dispatch: settled.claimed.flatMap((row) => {
      const execution = executions.get(row.execution_id);
      return execution ? [StepRepository.claimed(row, execution)] : [];
    }),
    wakeAt: undefined,
    aborted: [],
    queuedElsewhere: 0,
  };
}

/** An event row as the settle transaction writes it (settle.ts `SettleBatch.event`). */
function eventRow(step: SettleRequest['step'], type: string, data: Record<string, unknown>): ExecutionEventRow {
  return {
    id: newId('evt'),
    workspace_id: step.workspace_id,
    execution_id: step.execution_id,
    type,
    step_id: step.step_id,
    data: JSON.stringify({
      execution_id: step.execution_id,
      workflow_id: step.workflow_id,
      step_id: step.step_id,
      ...data,
    }),
    created_at: nowIso(),
  };
}
