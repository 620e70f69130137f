import type { StepDefinition, WorkflowDefinition } from '../definition/definition-schema.js';
import { type ExecutionPlan, planExecution } from '../definition/plan.js';
import { analyzeSteps, type LocatedReference, readExpressions } from '../definition/step-analysis.js';
import type { FieldError } from '../errors.js';
import type { ExecutionRow } from '../store/database-schema.js';
import type { Store } from '../store/store.js';

/**
 * A definition prepared for running: its plan, each step's definition and the other steps its
 * expressions read. Versions never change, so one is prepared once per process and cached.
 */
export interface CompiledWorkflow {
  definition: WorkflowDefinition;
  plan: ExecutionPlan;
  steps: Map<string, StepDefinition>;
  dependents: Map<string, string[]>;
  /** Steps whose state a step's templates read (its context), by step id. */
  reads: Map<string, string[]>;
  /** Steps the workflow `output` reads. */
  outputReads: string[];
}

/** Definitions compiled already: a start of a cached version reuses its plan. */
const compiledDefinitions = new WeakMap<WorkflowDefinition, CompiledWorkflow>();

/** Prepares a (valid) definition; the same definition object is prepared once. */
export function compileWorkflow(definition: WorkflowDefinition): CompiledWorkflow {
  let compiled = compiledDefinitions.get(definition);
  if (!compiled) {
    compiled = compileDefinition(definition);
    compiledDefinitions.set(definition, compiled);
  }
  return compiled;
}

function compileDefinition(definition: WorkflowDefinition): CompiledWorkflow {
  const plan = planExecution(definition);
  const analyses = analyzeSteps(definition.steps, definition.sequential === true);
  const reads = new Map<string, string[]>();
  definition.steps.forEach((step, index) => {
    const referenced = new Set((analyses[index]?.references ?? []).map((reference) => reference.step));
    for (const mapping of step.input_mappings ?? []) referenced.add(mapping.from_step);
    reads.set(step.id, [...referenced]);
  });
  const found = { references: [] as LocatedReference[], errors: [] as FieldError[] };
  readExpressions(definition.output, '/output', 'template', found);
  return {
    definition,
    plan,
    steps: new Map(definition.steps.map((step) => [step.id, withEffectiveRunIf(definition, step)])),
    dependents: new Map(plan.steps.map((step) => [step.id, step.dependents])),
    reads,
    outputReads: [...new Set(found.references.map((reference) => reference.step))],
  };
}

/**
 * A step as the scheduler reads it. In a `sequential` workflow with `stop_on_failure: false` the
 * implicit dependency on the previous step is `all_done` (SPEC §3), so later steps still run after
 * a failure. Readiness is decided per step, not per edge, so a step without its own `run_if` gets
 * `all_done` for all its dependencies; a `run_if` written on the step wins.
 */
function withEffectiveRunIf(definition: WorkflowDefinition, step: StepDefinition): StepDefinition {
  const continuesAfterFailure = definition.sequential === true && definition.stop_on_failure === false;
  if (!continuesAfterFailure || step.run_if !== undefined) return step;
  return { ...step, run_if: 'all_done' };
}

/** A small LRU of compiled workflows by key (`<workflow id>@<version>` or `adhoc:<execution id>`). */
export class CompiledWorkflowCache {
  readonly #entries = new Map<string, CompiledWorkflow>();

  constructor(private readonly capacity = 500) {}

  /** The cached workflow, loading and compiling it on a miss. */
  async get(key: string, load: () => Promise<WorkflowDefinition | undefined>): Promise<CompiledWorkflow | undefined> {
    const hit = this.#entries.get(key);
    if (hit) {
      // Refreshed as most recently used only when it is in the older half: a hot entry then
      // costs a lookup, not a delete and an insert, on every start and settle.
      if (this.#entries.size > this.capacity / 2) {
        this.#entries.delete(key);
        this.#entries.set(key, hit);
      }
      return hit;
    }
    const definition = await load();
    if (!definition) return undefined;
    const compiled = compileWorkflow(definition);
    this.#entries.set(key, compiled);
    if (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return compiled;
  }
}

/** What names an execution's workflow: a saved version, or its inline definition. */
export type WorkflowRef = Pick<ExecutionRow, 'id' | 'workflow_id' | 'workflow_version' | 'adhoc_definition'>;

/** Loads and caches the compiled definition an execution runs. */
export async function compiledWorkflowOf(
  store: Store,
  cache: CompiledWorkflowCache,
  execution: WorkflowRef,
): Promise<CompiledWorkflow> {
  const key =
    execution.adhoc_definition !== null
      ? `adhoc:${execution.id}`
      : `${execution.workflow_id}@${execution.workflow_version}`;
  const compiled = await cache.get(key, async () => {
    if (execution.adhoc_definition !== null) return JSON.parse(execution.adhoc_definition) as WorkflowDefinition;
    if (execution.workflow_id === null || execution.workflow_version === null) return undefined;
    return store.workflows.versionDefinition(execution.workflow_id, execution.workflow_version);
  });
  if (!compiled) throw new Error(`the definition of execution ${execution.id} is missing`);
  return compiled;
}

/** The compiled definition of a stored workflow version (cached); undefined when it does not exist. */
export async function compiledVersionOf(
  store: Store,
  cache: CompiledWorkflowCache,
  workflowId: string,
  version: number,
): Promise<CompiledWorkflow | undefined> {
  return cache.get(`${workflowId}@${version}`, () => store.workflows.versionDefinition(workflowId, version));
}
