import type { TemplateContext } from '../definition/render.js';
import type { ExecutionRow, ExecutionStepRow } from '../store/database-schema.js';
import type { Store } from '../store/store.js';

/**
 * The context templates are evaluated against (SPEC §2): the execution's input, the state of the
 * steps a template reads, and the execution's identity. Only the steps an expression references
 * are loaded, so a step's context costs one small query however large the workflow.
 */

type ExecutionIdentity = Pick<ExecutionRow, 'id' | 'input' | 'labels' | 'workflow_id' | 'workflow_version'>;

function parse(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

/** The template view of step rows. */
export function stepStates(rows: readonly ExecutionStepRow[]): TemplateContext['steps'] {
  const steps: TemplateContext['steps'] = {};
  for (const row of rows) {
    steps[row.step_id] = {
      output: parse(row.output),
      status: row.status,
      error: parse(row.error),
      attempts: row.attempts,
    };
  }
  return steps;
}

/**
 * Builds the context of an execution with the states of `readSteps`. The input is parsed on first
 * read: most item templates read only `item`, and parsing a large input once per item (a
 * `for_each` over the input's own 10,000-element list) was most of such a run's time and memory.
 */
export async function contextOf(
  store: Store,
  execution: ExecutionIdentity,
  readSteps: readonly string[],
): Promise<TemplateContext> {
  const rows = readSteps.length > 0 ? await store.steps.list(execution.id, readSteps) : [];
  const context = {
    steps: stepStates(rows),
    execution: {
      id: execution.id,
      workflow_id: execution.workflow_id,
      version: execution.workflow_version,
      labels: JSON.parse(execution.labels) as Record<string, string>,
    },
  } as TemplateContext;
  let input: { value: unknown } | undefined;
  Object.defineProperty(context, 'input', {
    enumerable: true,
    configurable: true,
    get: () => {
      input ??= { value: parse(execution.input) };
      return input.value;
    },
  });
  return context;
}
