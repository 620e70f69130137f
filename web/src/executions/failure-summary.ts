/**
 * Why an execution failed, in one line for the banner at the top of its page (SPEC §7): the step
 * that failed it and that step's error. Pure: unit-tested in failure-summary.test.ts.
 */

/** What the summary needs of an execution. */
export interface ExecutionLike {
  status: string;
  error: unknown;
  steps?: ReadonlyArray<{
    step_id: string;
    status: string;
    error: unknown;
    completed_at: string | null;
    attempts: number;
  }>;
}

/** The banner's content. */
export interface FailureSummary {
  stepId: string | null;
  message: string;
  code: string | null;
  attempts: number | null;
}

const record = (value: unknown): Record<string, unknown> | null =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;

/** The message of an error value (`{message}`, a string, or its JSON). */
export function errorText(error: unknown): string {
  if (error === null || error === undefined) return '';
  if (typeof error === 'string') return error;
  const message = record(error)?.message;
  return typeof message === 'string' ? message : JSON.stringify(error);
}

function codeOf(error: unknown): string | null {
  const code = record(error)?.code;
  return typeof code === 'string' ? code : null;
}

/** The failure of a failed execution, or null for any other status. */
export function failureSummary(execution: ExecutionLike): FailureSummary | null {
  if (execution.status !== 'failed') return null;
  const error = record(execution.error);
  const steps = execution.steps ?? [];
  const named = typeof error?.step_id === 'string' ? steps.find((step) => step.step_id === error.step_id) : undefined;
  // Without a named step, the failed step that ended first is the one that failed the execution.
  const failed =
    named ??
    [...steps]
      .filter((step) => step.status === 'failed')
      .sort((a, b) => (a.completed_at ?? '').localeCompare(b.completed_at ?? ''))[0];
  if (failed) {
    const stepError = failed.error ?? error?.cause ?? null;
    return {
      stepId: failed.step_id,
      message: errorText(stepError) || errorText(execution.error) || 'the step failed',
      code: codeOf(stepError),
      attempts: failed.attempts,
    };
  }
  return {
    stepId: null,
    message: errorText(execution.error) || 'the execution failed',
    code: codeOf(execution.error),
    attempts: null,
  };
}
