import { nowIso } from '../ids.js';
import type { ExecutionRow, StepAttemptRow } from '../store/database-schema.js';
import type { LockedCompletion, SettleEdge } from '../store/repositories/settle-counter-repository.js';
import type { CompletedStepRow } from '../store/repositories/step-repository.js';
import type { CompiledWorkflow } from './compiled-workflow.js';
import { jsonText } from './json-text.js';
import { decideReadiness } from './scheduling-rules.js';
import {
  finishExecutions,
  propagate,
  type SettleBatch,
  type SettleEnvironment,
  type SettleRequest,
  startReady,
} from './settle.js';

/**
 * The common case of a settle, done set-wise: completed attempts. Whatever the batch size, it
 * costs one statement each to complete the steps, count them on their dependents, claim the
 * dependents that became ready and count them on their executions, instead of one per outcome.
 * Rarer cases (a dependent skipped, an execution not running) go through the per-step path.
 */

/** The completion rows of completed outcomes, as `StepRepository.completeMany` takes them. */
export function completedRows(requests: readonly SettleRequest[]): CompletedStepRow[] {
  return requests.map(({ step, outcome, endedAt }) => ({
    executionId: step.execution_id,
    stepId: step.step_id,
    attempt: step.attempts,
    input: outcome.kind === 'completed' ? jsonText(outcome.input) : null,
    // Measured against the cap by settleOutcomes, which kept the text.
    output: outcome.kind === 'completed' ? (outcome.outputText ?? jsonText(outcome.output)) : null,
    at: endedAt,
  }));
}

/** The attempt row of a completed outcome, as the settle records it. */
export function completedAttemptRow(
  { step, endedAt }: Pick<SettleRequest, 'step' | 'endedAt'>,
  env: Pick<SettleEnvironment, 'worker' | 'owner'>,
): StepAttemptRow {
  return {
    execution_id: step.execution_id,
    step_id: step.step_id,
    attempt: step.attempts,
    workspace_id: step.workspace_id,
    type: step.attempt_type,
    status: 'completed',
    used_fallback: step.used_fallback,
    error: null,
    worker: env.worker ?? env.owner,
    queued_at: step.queued_at,
    started_at: step.started_at,
    ended_at: endedAt,
  };
}

/**
 * The dependency edges out of the steps of `requests`, from the workflows their claims name (so
 * before the executions are read); undefined when a claim does not name its workflow.
 */
export async function edgesOf(
  requests: readonly SettleRequest[],
  env: SettleEnvironment,
): Promise<SettleEdge[] | undefined> {
  const edges: SettleEdge[] = [];
  for (const { step } of requests) {
    if (step.workflow_id === undefined || (step.workflow_id === null && !step.adhoc_definition)) return undefined;
    const workflow = await env.workflowOf({
      id: step.execution_id,
      workflow_id: step.workflow_id,
      workflow_version: step.workflow_version,
      adhoc_definition: step.adhoc_definition,
    });
    for (const dependent of workflow.dependents.get(step.step_id) ?? []) {
      edges.push({ executionId: step.execution_id, source: step.step_id, dependent });
    }
  }
  return edges;
}

/**
 * Settles completed outcomes (all of kind `completed`) in the batch's transaction. `folded`: what
 * `lockAndComplete` already did (the completion, and the counters when it had the edges); what it
 * did not, is done here.
 */
export async function settleCompleted(
  batch: SettleBatch,
  requests: SettleRequest[],
  folded?: LockedCompletion,
): Promise<void> {
  const { tx, env } = batch;
  const completed = folded?.done ?? (await tx.steps.completeMany(completedRows(requests), env.owner));

  const workflows = new Map<string, { execution: ExecutionRow; workflow: CompiledWorkflow }>();
  const edges: SettleEdge[] = [];
  for (const { step, outcome, endedAt } of requests) {
    if (!completed.has(`${step.execution_id}/${step.step_id}`) || outcome.kind !== 'completed') continue;
    const execution = await batch.execution(step.execution_id);
    if (!execution) continue;
    const workflow = await env.workflowOf(execution);
    workflows.set(execution.id, { execution, workflow });
    batch.attempts.push(completedAttemptRow({ step, endedAt }, env));
    batch.event(execution, 'step.completed', { status: 'completed', output: outcome.output }, step.step_id);
    if (folded?.counted) continue;
    for (const dependent of workflow.dependents.get(step.step_id) ?? []) {
      edges.push({ executionId: execution.id, source: step.step_id, dependent });
    }
  }

  // The dependents' counters and the executions' (counted already when the lock had the edges).
  const { counters, settled: finished } = folded?.counted
    ? folded
    : await tx.settleCounters.countEdges(completed, edges);
  const ready: Array<{ execution: ExecutionRow; stepId: string }> = [];
  const skipped: Array<{ execution: ExecutionRow; workflow: CompiledWorkflow; stepId: string }> = [];
  for (const counter of counters) {
    const owner = workflows.get(counter.execution_id);
    if (!owner) continue;
    const decision = decideReadiness(owner.workflow.steps.get(counter.step_id)?.run_if, counter);
    if (decision === 'ready') ready.push({ execution: owner.execution, stepId: counter.step_id });
    if (decision === 'skip') skipped.push({ ...owner, stepId: counter.step_id });
  }

  await startReady(batch, ready);

  await finishExecutions(
    batch,
    finished.flatMap((row) => {
      const owner = workflows.get(row.id);
      return owner && row.steps_unsettled <= 0 ? [owner] : [];
    }),
  );

  // Rare: a dependent skipped because another of its dependencies did not complete.
  const at = nowIso();
  for (const { execution, workflow, stepId } of skipped) {
    const patch = { status: 'skipped', skip_reason: 'dependency', completed_at: at };
    if (!(await tx.steps.update(execution.id, stepId, patch, { statuses: ['pending'] }))) continue;
    batch.event(execution, 'step.skipped', { status: 'skipped', reason: 'dependency' }, stepId);
    await propagate(batch, execution, workflow, stepId, 'skipped');
  }
}
