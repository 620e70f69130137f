import { isTemplate } from '../definition/templates.js';
import type { FieldError } from '../errors.js';
import type { TaskTypeLookup } from '../tasks/task-type.js';

/**
 * Checks of a step's `for_each` fields beyond their JSON Schema (types and ranges): a string must
 * be a template, and the step's type must run in the engine, since external workers cannot claim
 * items yet, and must not be one that waits for a child or a signal (not per item yet).
 */
/** Built-ins that wait for something outside the step (a child execution, a signal): not per item yet. */
const ENGINE_WAITS = ['workflow', 'wait_for_signal'];

export function checkForEach(step: Record<string, unknown>, pointer: string, taskTypes: TaskTypeLookup): FieldError[] {
  const errors: FieldError[] = [];
  const forEach = step.for_each;
  const itemFields = ['concurrency', 'tolerated_failures', 'tolerated_failure_percent'];
  if (forEach === undefined) {
    for (const field of itemFields) {
      if (step[field] !== undefined)
        errors.push({ path: `${pointer}/${field}`, message: `${field} applies to a for_each step only` });
    }
    return errors;
  }
  if (typeof forEach === 'string' && !isTemplate(forEach)) {
    errors.push({
      path: `${pointer}/for_each`,
      message: 'for_each must be a template yielding an array (e.g. "{{ steps.list.output.items }}") or an array',
    });
  }
  for (const field of ['type', 'fallback/type']) {
    const type = field === 'type' ? step.type : (step.fallback as Record<string, unknown> | undefined)?.type;
    if (typeof type !== 'string') continue;
    if (ENGINE_WAITS.includes(type)) {
      errors.push({
        path: `${pointer}/${field}`,
        message: `for_each does not run '${type}' steps yet (a child or a wait per item); give the step no for_each`,
      });
      continue;
    }
    if (taskTypes.get(type)?.source === 'declared') {
      errors.push({
        path: `${pointer}/${field}`,
        message: `for_each does not run external-worker task types yet ('${type}' is one); use an in-process type or a plugin`,
      });
    }
  }
  return errors;
}
