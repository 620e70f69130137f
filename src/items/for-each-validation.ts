import { isTemplate } from '../definition/templates.js';
import type { FieldError } from '../errors.js';

/**
 * Checks of a step's `for_each` fields beyond their JSON Schema (types and ranges): a string must
 * be a template, and the item fields apply to a `for_each` step only. Any type runs per item:
 * built-in, plugin, external worker, `workflow` (a child per item), `wait_for_signal` (a wait
 * per item).
 */
export function checkForEach(step: Record<string, unknown>, pointer: string): FieldError[] {
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
  return errors;
}
