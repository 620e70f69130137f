import type { DefinitionValidation } from '../definition/validate-definition.js';
import type { FieldError } from '../errors.js';

/**
 * Child workflows named in a definition (SPEC §3.1 `workflow`). A `workflow_id` written literally
 * can be checked when the definition is saved, so a typo is a 400 then rather than a failed step
 * later; one made by a template is only known when the attempt runs, where the engine fails it
 * naming it. Disabled workflows pass here: they may be enabled before the step runs.
 */

type Lookup = (workflowId: string) => Promise<boolean>;

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A literal (template-free) workflow id in `input`, if any. */
function literalWorkflowId(input: unknown): string | undefined {
  const id = record(input)?.workflow_id;
  return typeof id === 'string' && id !== '' && !id.includes('{{') ? id : undefined;
}

/** Errors for `workflow` steps and fallbacks whose literal `workflow_id` names no workflow of the workspace. */
export async function missingChildWorkflowErrors(definition: unknown, exists: Lookup): Promise<FieldError[]> {
  const steps = record(definition)?.steps;
  if (!Array.isArray(steps)) return [];
  const errors: FieldError[] = [];
  const known = new Map<string, boolean>();
  const check = async (id: string | undefined, path: string) => {
    if (id === undefined) return;
    if (!known.has(id)) known.set(id, await exists(id));
    if (!known.get(id)) errors.push({ path, message: `no workflow '${id}' exists in this workspace` });
  };
  for (const [index, value] of steps.entries()) {
    const step = record(value);
    if (!step) continue;
    if (step.type === 'workflow') await check(literalWorkflowId(step.input), `/steps/${index}/input/workflow_id`);
    const fallback = record(step.fallback);
    if (fallback?.type === 'workflow' && 'input' in fallback)
      await check(literalWorkflowId(fallback.input), `/steps/${index}/fallback/input/workflow_id`);
  }
  return errors;
}

/** `validation` with the missing child workflows of its definition added as errors. */
export async function withChildWorkflowReferences(
  validation: DefinitionValidation,
  exists: Lookup,
): Promise<DefinitionValidation> {
  if (!validation.definition) return validation;
  const missing = await missingChildWorkflowErrors(validation.definition, exists);
  if (missing.length === 0) return validation;
  return {
    ...validation,
    valid: false,
    definition: undefined,
    plan: undefined,
    errors: [...validation.errors, ...missing],
  };
}
