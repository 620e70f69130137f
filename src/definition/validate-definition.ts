import type { FieldError } from '../errors.js';
import { checkForEach } from '../items/for-each-validation.js';
import type { TaskTypeLookup } from '../tasks/task-type.js';
import {
  plainSchema,
  STEP_ID_PATTERN,
  type WorkflowDefinition,
  WorkflowDefinitionSchema,
} from './definition-schema.js';
import { compileUserSchema, createAjv, describeAjvErrors, madeOnFirstUse } from './json-schema.js';
import { type ExecutionPlan, findCycles, planExecution } from './plan.js';
import { analyzeSteps, type LocatedReference, readExpressions, type StepAnalysis } from './step-analysis.js';
import { checkTaskInput, closedFields } from './task-inputs.js';
import { checkTransformInput } from './transform-checks.js';
import { validateTriggers } from './validate-triggers.js';

/**
 * Validation of workflow definitions (SPEC §1): the structural JSON Schema first, then what a
 * schema cannot say: unique ids, known task types, existing dependency targets, acyclicity,
 * template syntax, step references, task input/output schemas, input_schema, triggers.
 * Every problem is reported at once, each as `{path, message}` with a JSON Pointer path.
 */

/** The outcome of validating a definition. */
export interface DefinitionValidation {
  valid: boolean;
  errors: FieldError[];
  warnings: FieldError[];
  /** The definition, typed, when valid. */
  definition: WorkflowDefinition | undefined;
  /** Its execution plan, when valid. */
  plan: ExecutionPlan | undefined;
}

// Compiled on the first validation (about 0.1 s), not while the server starts.
const checkStructure = madeOnFirstUse(() => createAjv().compile(plainSchema(WorkflowDefinitionSchema)));

/** Fields of `steps.X` that templates may read. */
const STEP_CONTEXT_FIELDS = ['output', 'status', 'error', 'attempts'];

type Json = Record<string, unknown>;

function asRecord(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

/** Edit distance, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = row[j] ?? 0;
      row[j] = Math.min(above + 1, (row[j - 1] ?? 0) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] ?? 0;
}

function suggestion(name: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3))
    ? ` (did you mean '${best}'?)`
    : '';
}

function structuralErrors(input: Json): FieldError[] {
  const check = checkStructure();
  if (check(input)) return [];
  return describeAjvErrors(check.errors).map((error) =>
    /^\/steps\/\d+\/id$/.test(error.path) && error.message.startsWith('must match pattern')
      ? {
          path: error.path,
          message: `invalid step id: must match ${STEP_ID_PATTERN} (a letter, then up to 63 letters, digits, '_' or '-')`,
        }
      : error,
  );
}

class DefinitionChecker {
  readonly errors: FieldError[] = [];
  readonly warnings: FieldError[] = [];
  /** Step id -> index of its first occurrence. */
  readonly ids = new Map<string, number>();
  readonly stepTypes = new Map<string, string>();

  constructor(
    readonly definition: Json,
    readonly steps: Json[],
    readonly taskTypes: TaskTypeLookup,
  ) {}

  checkIds(): void {
    this.steps.forEach((step, index) => {
      if (typeof step.id !== 'string') return;
      const first = this.ids.get(step.id);
      if (first === undefined) {
        this.ids.set(step.id, index);
        if (typeof step.type === 'string') this.stepTypes.set(step.id, step.type);
      } else {
        this.errors.push({
          path: `/steps/${index}/id`,
          message: `duplicate step id '${step.id}' (first at /steps/${first})`,
        });
      }
    });
  }

  checkType(type: unknown, pointer: string): void {
    if (typeof type !== 'string' || type === '') return;
    if (!this.taskTypes.get(type)) {
      this.errors.push({
        path: pointer,
        message: `unknown task type '${type}'${suggestion(type, this.taskTypes.names())}`,
      });
    }
  }

  checkStep(step: Json, index: number, analysis: StepAnalysis): void {
    const pointer = `/steps/${index}`;
    this.checkType(step.type, `${pointer}/type`);
    const fallback = asRecord(step.fallback);
    if (fallback) this.checkType(fallback.type, `${pointer}/fallback/type`);
    this.errors.push(...checkForEach(step, pointer));

    if (Array.isArray(step.depends_on)) {
      const seen = new Set<string>();
      step.depends_on.forEach((target, targetIndex) => {
        if (typeof target !== 'string') return;
        const at = `${pointer}/depends_on/${targetIndex}`;
        if (!this.ids.has(target)) {
          this.errors.push({
            path: at,
            message: `depends on unknown step '${target}'${suggestion(target, [...this.ids.keys()])}`,
          });
        }
        if (seen.has(target)) this.warnings.push({ path: at, message: `'${target}' is listed twice` });
        seen.add(target);
      });
    }

    const mappedFields = new Set<string>();
    if (Array.isArray(step.input_mappings)) {
      step.input_mappings.forEach((mapping, mappingIndex) => {
        const entry = asRecord(mapping);
        if (!entry) return;
        if (typeof entry.from_step === 'string' && !this.ids.has(entry.from_step)) {
          this.errors.push({
            path: `${pointer}/input_mappings/${mappingIndex}/from_step`,
            message: `maps from unknown step '${entry.from_step}'`,
          });
        }
        if (typeof entry.to_field === 'string') mappedFields.add(entry.to_field.split('.')[0] ?? entry.to_field);
      });
    }

    this.errors.push(...analysis.errors);
    for (const reference of analysis.references) this.checkReference(reference);
    this.checkInputs(step, pointer, mappedFields);
    this.collectStepWarnings(step, pointer);
  }

  checkInputs(step: Json, pointer: string, mappedFields: ReadonlySet<string>): void {
    const descriptor = typeof step.type === 'string' ? this.taskTypes.get(step.type) : undefined;
    if (descriptor) this.errors.push(...checkTaskInput(descriptor, step.input, mappedFields, `${pointer}/input`));
    if (step.type === 'transform') this.checkTransform(step.input, `${pointer}/input`, mappedFields);
    const fallback = asRecord(step.fallback);
    const fallbackType = fallback && typeof fallback.type === 'string' ? this.taskTypes.get(fallback.type) : undefined;
    if (fallback && fallbackType) {
      // A fallback without its own input runs with the step's input (and both get the mappings).
      const fallbackInput = 'input' in fallback ? fallback.input : step.input;
      const at = 'input' in fallback ? `${pointer}/fallback/input` : `${pointer}/fallback`;
      this.errors.push(...checkTaskInput(fallbackType, fallbackInput, mappedFields, at));
      // The step's own input was checked above when it is a transform too.
      if (fallback.type === 'transform' && ('input' in fallback || step.type !== 'transform'))
        this.checkTransform(fallbackInput, 'input' in fallback ? at : `${pointer}/input`, mappedFields);
    }
  }

  checkTransform(input: unknown, pointer: string, mappedFields: ReadonlySet<string>): void {
    const findings = checkTransformInput(input, pointer, mappedFields);
    this.errors.push(...findings.errors);
    this.warnings.push(...findings.warnings);
  }

  checkReference(reference: LocatedReference): void {
    const { step, field, subfield, pointer } = reference;
    if (!this.ids.has(step)) {
      this.errors.push({
        path: pointer,
        message: `references unknown step 'steps.${step}'${suggestion(step, [...this.ids.keys()])}`,
      });
      return;
    }
    if (field === undefined) return;
    if (!STEP_CONTEXT_FIELDS.includes(field)) {
      this.errors.push({
        path: pointer,
        message: `'steps.${step}.${field}' does not exist: a step exposes ${STEP_CONTEXT_FIELDS.join(', ')}`,
      });
      return;
    }
    if (field !== 'output' || subfield === undefined) return;
    const type = this.stepTypes.get(step);
    const descriptor = type === undefined ? undefined : this.taskTypes.get(type);
    const fields = closedFields(descriptor?.outputSchema);
    if (fields && !fields.includes(subfield)) {
      this.errors.push({
        path: pointer,
        message: `'steps.${step}.output.${subfield}' does not exist: task type '${type}' outputs ${fields.join(', ')}`,
      });
    }
  }

  collectStepWarnings(step: Json, pointer: string): void {
    const retry = asRecord(step.retry);
    if (
      retry &&
      typeof retry.max_delay_ms === 'number' &&
      typeof retry.delay_ms === 'number' &&
      retry.max_delay_ms < retry.delay_ms
    ) {
      this.warnings.push({
        path: `${pointer}/retry/max_delay_ms`,
        message: 'is lower than delay_ms, so every delay is max_delay_ms',
      });
    }
    const workflowTimeout = this.definition.timeout_seconds;
    if (
      typeof step.timeout_seconds === 'number' &&
      typeof workflowTimeout === 'number' &&
      step.timeout_seconds > workflowTimeout
    ) {
      this.warnings.push({ path: `${pointer}/timeout_seconds`, message: 'exceeds the workflow timeout_seconds' });
    }
  }

  checkCycles(analyses: StepAnalysis[]): void {
    const graph = new Map<string, string[]>();
    analyses.forEach((analysis, index) => {
      if (analysis.id !== undefined && this.ids.get(analysis.id) === index)
        graph.set(analysis.id, analysis.dependencies);
    });
    for (const cycle of findCycles(graph)) {
      const first = cycle[0] ?? '';
      this.errors.push({
        path: `/steps/${this.ids.get(first) ?? 0}`,
        message: `dependency cycle: ${cycle.join(' -> ')} (each step depends on the next)`,
      });
    }
  }

  checkWorkflowFields(): void {
    const found = { references: [] as LocatedReference[], errors: [] as FieldError[] };
    readExpressions(this.definition.output, '/output', 'template', found);
    this.errors.push(...found.errors);
    for (const reference of found.references) this.checkReference(reference);
    const concurrency = asRecord(this.definition.concurrency);
    if (concurrency) {
      // The key is rendered when the execution starts, before any step has run.
      const key = { references: [] as LocatedReference[], errors: [] as FieldError[] };
      readExpressions(concurrency.key, '/concurrency/key', 'template', key);
      this.errors.push(...key.errors);
      for (const reference of key.references.slice(0, 1)) {
        this.errors.push({
          path: '/concurrency/key',
          message: `the concurrency key is rendered at start and may read only input, not 'steps.${reference.step}'`,
        });
      }
    }
    if ('input_schema' in this.definition) {
      this.errors.push(...compileUserSchema(this.definition.input_schema, '/input_schema').errors);
    }
    this.errors.push(...validateTriggers(this.definition.triggers));
  }
}

/** Validates a definition against the task types known to the workspace. */
export function validateDefinition(input: unknown, taskTypes: TaskTypeLookup): DefinitionValidation {
  const definition = asRecord(input);
  if (!definition) {
    return invalid([{ path: '', message: 'a workflow definition must be a JSON object' }], []);
  }
  const errors = structuralErrors(definition);
  const steps = (Array.isArray(definition.steps) ? definition.steps : []).map((step) => asRecord(step) ?? {});
  const checker = new DefinitionChecker(definition, steps, taskTypes);
  checker.checkIds();
  const analyses = analyzeSteps(steps, definition.sequential === true);
  steps.forEach((step, index) => {
    const analysis = analyses[index];
    if (analysis) checker.checkStep(step, index, analysis);
  });
  checker.checkCycles(analyses);
  checker.checkWorkflowFields();
  const allErrors = dedupe([...errors, ...checker.errors]);
  if (allErrors.length > 0) return invalid(allErrors, checker.warnings);
  const valid = definition as WorkflowDefinition;
  return { valid: true, errors: [], warnings: checker.warnings, definition: valid, plan: planExecution(valid) };
}

function invalid(errors: FieldError[], warnings: FieldError[]): DefinitionValidation {
  return { valid: false, errors, warnings, definition: undefined, plan: undefined };
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((error) => {
    const key = `${error.path}\u0000${error.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
