import type { Artifacts } from '../artifacts/artifacts.js';
import { taskArtifacts } from '../artifacts/task-artifacts.js';
import { childOutcome, childRequestOf, WORKFLOW_TASK_TYPE } from '../children/child-workflows.js';
import type { StepDefinition } from '../definition/definition-schema.js';
import {
  evaluateExpression,
  getPath,
  isTruthy,
  renderValue,
  setPath,
  type TemplateContext,
} from '../definition/render.js';
import { isTemplate } from '../definition/templates.js';
import { expandForEach, isItemClaim } from '../items/for-each.js';
import type { SecretVault } from '../secrets/secret-vault.js';
import { type AttemptSecrets, loadAttemptSecrets, redactOutcome, renderWithSecrets } from '../secrets/step-secrets.js';
import {
  isSignalTimeout,
  signalTimeoutOutcome,
  signalWaitOf,
  WAIT_FOR_SIGNAL_TASK_TYPE,
} from '../signals/signal-waits.js';
import type { ClaimedStep } from '../store/repositories/step-repository.js';
import type { Store } from '../store/store.js';
import type { TaskTypeRegistry } from '../tasks/registry.js';
import { NonRetryableError, toStepError, WaitUntil } from '../tasks/task-outcomes.js';
import type { TaskContext } from '../tasks/task-type.js';
import type { CompiledWorkflow } from './compiled-workflow.js';
import { parseJsonText } from './json-text.js';
import type { StepOutcome } from './settle.js';
import { contextOf } from './step-context.js';

/**
 * Runs one claimed attempt: evaluates `when`, renders the input (templates, then input
 * mappings), calls the task handler with an AbortSignal that fires on cancel and on the
 * per-attempt timeout, and turns whatever happens into a StepOutcome. It never throws.
 */

const TIMED_OUT = Symbol('timed out');

/** Per-attempt timeout of a step (and fallback) that sets none (WEFT_DEFAULT_STEP_TIMEOUT_SECONDS). */
export const DEFAULT_STEP_TIMEOUT_SECONDS = 3600;

/** Longest delay one Node timer takes; a longer one would fire at once (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The bound one in-process attempt runs under: the step's (or fallback's) `timeout_seconds`, else
 * the process default, so a handler that never returns cannot hold a slot for ever.
 */
export function attemptTimeout(
  stepSeconds: number | null,
  defaultSeconds: number = DEFAULT_STEP_TIMEOUT_SECONDS,
): { seconds: number; source: 'step' | 'default' } {
  return stepSeconds === null
    ? { seconds: defaultSeconds, source: 'default' }
    : { seconds: stepSeconds, source: 'step' };
}

/** Calls `fire` after `ms`, in hops a Node timer can take; returns the cancel. */
function longTimer(ms: number, fire: () => void): () => void {
  let timer: NodeJS.Timeout;
  const deadline = Date.now() + ms;
  const arm = () => {
    const left = deadline - Date.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fire, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}

/** What the runner needs. */
export interface RunnerEnvironment {
  store: Store;
  taskTypes: TaskTypeRegistry;
  config: TaskContext['config'];
  /** Reads the workspace secrets step inputs name (`{{ secrets.NAME }}`). */
  secrets: SecretVault;
  /** Where handlers' artifacts go (`context.artifacts`); absent in engines built without a folder. */
  artifacts?: Artifacts;
}

async function evaluateWhen(when: string, context: TemplateContext): Promise<boolean> {
  if (isTemplate(when)) return isTruthy(await renderValue(when, context));
  return isTruthy(await evaluateExpression(when, context));
}

async function applyMappings(input: unknown, step: StepDefinition, context: TemplateContext): Promise<unknown> {
  if (!step.input_mappings || step.input_mappings.length === 0) return input;
  const target = (input !== null && typeof input === 'object' && !Array.isArray(input) ? input : {}) as Record<
    string,
    unknown
  >;
  for (const mapping of step.input_mappings) {
    let value = getPath(context.steps[mapping.from_step]?.output, mapping.from_field);
    if (mapping.transform) value = await evaluateExpression(mapping.transform, value as Record<string, unknown>);
    setPath(target, mapping.to_field, value === undefined ? null : JSON.parse(JSON.stringify(value)));
  }
  return target;
}

/** The attempt's type, input template and timeout: the step's, or its fallback's. */
function attemptSpec(step: StepDefinition, usedFallback: boolean) {
  if (usedFallback && step.fallback) {
    return {
      type: step.fallback.type,
      input: 'input' in step.fallback ? step.fallback.input : step.input,
      timeoutSeconds: step.fallback.timeout_seconds ?? step.timeout_seconds ?? null,
    };
  }
  return { type: step.type, input: step.input, timeoutSeconds: step.timeout_seconds ?? null };
}

/** An attempt ready to run: its type, rendered input and per-attempt timeout. */
export interface PreparedAttempt {
  kind: 'run';
  type: string;
  input: unknown;
  /** The input as recorded and shown: secrets replaced by `[redacted:NAME]`. */
  view: unknown;
  /** The secrets the input read (to hide them in the output and error), if any. */
  secrets: AttemptSecrets | undefined;
  timeoutSeconds: number | null;
}

/** Runs a claimed step and returns its outcome. */
export async function runClaimedStep(
  claimed: ClaimedStep,
  workflow: CompiledWorkflow,
  signal: AbortSignal,
  env: RunnerEnvironment,
): Promise<StepOutcome> {
  const prepared = await prepareAttempt(claimed, workflow, env);
  if (prepared.kind !== 'run') return prepared;
  if (prepared.type === WORKFLOW_TASK_TYPE) {
    // The child is created when the settle records this attempt (src/children/).
    if (prepared.secrets !== undefined) {
      return failed(
        prepared.view,
        new NonRetryableError('workflow: a child input cannot carry secrets; read them in the child workflow'),
      );
    }
    const request = childRequestOf(prepared.input);
    return 'kind' in request ? request : { kind: 'failed', input: prepared.view, error: request };
  }
  // A signal wait runs no handler: its settle consumes a signal or parks the step (src/signals/).
  if (prepared.type === WAIT_FOR_SIGNAL_TASK_TYPE) return signalWaitOf(prepared);
  const handler = env.taskTypes.get(prepared.type)?.handler;
  if (!handler) {
    return failed(prepared.view, new NonRetryableError(`no handler for task type '${prepared.type}' in this process`));
  }
  const outcome = await runHandler(handler, prepared.input, claimed, prepared.timeoutSeconds, signal, env);
  return redactOutcome(outcome, prepared.view, prepared.secrets);
}

/**
 * Everything of an attempt before its handler: a fired timer completes, a false `when` skips, a
 * template that cannot render fails; otherwise the type and input to run. External workers get
 * the same rendered input as in-process handlers.
 */
export async function prepareAttempt(
  claimed: ClaimedStep,
  workflow: CompiledWorkflow,
  env: Pick<RunnerEnvironment, 'store' | 'secrets'>,
): Promise<PreparedAttempt | StepOutcome> {
  // A woken `workflow` step: its child ended.
  if (claimed.previous_status === 'waiting' && claimed.child_execution_id) return childOutcome(env.store, claimed);
  // A signal wait whose deadline passed: SIGNAL_TIMEOUT (src/signals/).
  if (isSignalTimeout(claimed)) return signalTimeoutOutcome(claimed);
  if (claimed.previous_status === 'waiting') {
    // A durable timer that fired: the output was decided when the step started waiting.
    return { kind: 'completed', input: parseJsonText(claimed.input), output: parseJsonText(claimed.output) };
  }
  const step = workflow.steps.get(claimed.step_id);
  if (!step) return failed(undefined, new NonRetryableError(`step '${claimed.step_id}' is not in the definition`));
  const usedFallback = claimed.used_fallback === 1;
  const spec = attemptSpec(step, usedFallback);
  let rendered: { input: unknown; view: unknown } | undefined;
  let secrets: AttemptSecrets | undefined;
  try {
    const context = await contextOf(
      env.store,
      {
        id: claimed.execution_id,
        input: claimed.execution_input,
        labels: claimed.execution_labels,
        workflow_id: claimed.workflow_id,
        workflow_version: claimed.workflow_version,
      },
      workflow.reads.get(claimed.step_id) ?? [],
    );
    const item = isItemClaim(claimed);
    if (item) Object.assign(context, { item: claimed.item, index: claimed.item_index });
    if (step.when !== undefined && !usedFallback && !item && !(await evaluateWhen(step.when, context)))
      return { kind: 'skipped' };
    // A `for_each` step writes its items here; each item then runs as an attempt (src/items/).
    if (step.for_each !== undefined && !item) return await expandForEach(claimed, step, context, env.store);
    // Secrets are read after `when`: a skipped step needs none of them.
    secrets = await loadAttemptSecrets(env.secrets, env.store, claimed.workspace_id, spec.input);
    rendered = await renderWithSecrets(context, secrets, async (scope) =>
      applyMappings(await renderValue(spec.input ?? {}, scope), step, scope),
    );
  } catch (error) {
    // Reading the context needs the database: an outage is not the template's fault.
    if (env.store.isUnavailableError(error)) throw error;
    // Templates fail the same way on every attempt; an expression limit keeps its code.
    const code = error instanceof NonRetryableError ? error.code : undefined;
    return failed(
      undefined,
      new NonRetryableError(`input could not be rendered: ${(error as Error).message}`, { code }),
    );
  }
  return { kind: 'run', type: spec.type, ...rendered, secrets, timeoutSeconds: spec.timeoutSeconds };
}

async function runHandler(
  handler: NonNullable<ReturnType<TaskTypeRegistry['get']>>['handler'] & object,
  input: unknown,
  claimed: ClaimedStep,
  timeoutSeconds: number | null,
  signal: AbortSignal,
  env: RunnerEnvironment,
): Promise<StepOutcome> {
  const attemptController = new AbortController();
  const onAbort = () => attemptController.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  // The handler sees the step's own timeout (null when none): `http` applies its shorter default then.
  const bound = attemptTimeout(timeoutSeconds, env.config.defaultStepTimeoutSeconds);
  let cancelTimer: (() => void) | undefined;
  const timedOut = new Promise<typeof TIMED_OUT>((resolve) => {
    cancelTimer = longTimer(bound.seconds * 1000, () => {
      attemptController.abort(new Error('attempt timed out'));
      resolve(TIMED_OUT);
    });
  });
  try {
    const result = await Promise.race([
      handler(input, {
        signal: attemptController.signal,
        executionId: claimed.execution_id,
        stepId: claimed.step_id,
        attempt: claimed.attempts,
        timeoutSeconds,
        config: env.config,
        artifacts: taskArtifacts(env.artifacts, claimed),
      }),
      timedOut,
    ]);
    if (result === TIMED_OUT) {
      const why =
        bound.source === 'default'
          ? ' (the default attempt timeout, WEFT_DEFAULT_STEP_TIMEOUT_SECONDS; set timeout_seconds on the step)'
          : '';
      return failed(input, new Error(`timed out after ${bound.seconds} s${why}`));
    }
    if (result instanceof WaitUntil)
      return { kind: 'waiting', input, until: result.until.getTime(), output: result.output };
    return { kind: 'completed', input, output: result === undefined ? null : result };
  } catch (error) {
    return failed(input, error);
  } finally {
    cancelTimer?.();
    signal.removeEventListener('abort', onAbort);
  }
}

function failed(input: unknown, error: unknown): StepOutcome {
  return { kind: 'failed', input, error: toStepError(error) };
}
