import type { FieldError } from '../errors.js';
import type { TaskTypeDescriptor } from '../tasks/task-type.js';
import { isTemplate } from './templates.js';

/**
 * Checks a step's literal input against its task type's input schema, as far as can be known
 * before templates are evaluated: required fields present (directly or through `input_mappings`),
 * no unknown fields when the schema is closed, literal strings against their field's `pattern`.
 * Other values are checked at run time.
 */

type Schema = Record<string, unknown>;

function requiredList(schema: Schema): string[] {
  return Array.isArray(schema.required) ? schema.required.filter((key) => typeof key === 'string') : [];
}

/** Lists the field names of a closed object schema, or undefined when the schema is open. */
export function closedFields(schema: Schema | undefined): string[] | undefined {
  if (schema?.additionalProperties !== false) return undefined;
  const properties = schema.properties;
  return properties && typeof properties === 'object' ? Object.keys(properties) : [];
}

/**
 * Literal (template-free) string fields whose property schema has a `pattern`: a value that can
 * never match is known now (a signal name with a space, say), so it is a 400 rather than a failed
 * step later. Only built-in types' patterns, which are simple, run here as ordinary RegExps.
 */
function literalPatternErrors(
  descriptor: TaskTypeDescriptor,
  value: Record<string, unknown>,
  pointer: string,
): FieldError[] {
  // Declared types' schemas come from tenants: their patterns run in the validator (linear), not here.
  if (descriptor.source !== 'builtin') return [];
  const properties = (descriptor.inputSchema?.properties ?? {}) as Record<string, Schema>;
  const errors: FieldError[] = [];
  for (const [key, property] of Object.entries(properties)) {
    const field = value[key];
    if (typeof property?.pattern !== 'string' || typeof field !== 'string' || isTemplate(field)) continue;
    if (!new RegExp(property.pattern, 'u').test(field)) {
      errors.push({
        path: `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`,
        message: `task type '${descriptor.type}': '${field}' does not match ${property.pattern}`,
      });
    }
  }
  return errors;
}

/**
 * Returns the input errors of a step (or fallback) whose input is `input` and which also receives
 * the top-level fields `mappedFields` from input mappings.
 */
export function checkTaskInput(
  descriptor: TaskTypeDescriptor,
  input: unknown,
  mappedFields: ReadonlySet<string>,
  pointer: string,
): FieldError[] {
  const schema = descriptor.inputSchema;
  if (!schema) return [];
  // A whole-input template yields its value at run time: nothing to check now.
  if (typeof input === 'string' && isTemplate(input)) return [];
  const value = input === undefined ? {} : input;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return schema.type === 'object'
      ? [{ path: pointer, message: `task type '${descriptor.type}' needs an object input` }]
      : [];
  }
  const present = new Set([...Object.keys(value), ...mappedFields]);
  const errors: FieldError[] = [];
  for (const key of requiredList(schema)) {
    if (!present.has(key)) {
      errors.push({ path: pointer, message: `task type '${descriptor.type}' requires input field '${key}'` });
    }
  }
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf.map((branch) => requiredList(branch as Schema));
    if (branches.every((keys) => keys.length > 0) && !branches.some((keys) => keys.every((key) => present.has(key)))) {
      const options = branches.map((keys) => `'${keys.join("' + '")}'`).join(' or ');
      errors.push({ path: pointer, message: `task type '${descriptor.type}' requires input field ${options}` });
    }
  }
  errors.push(...literalPatternErrors(descriptor, value as Record<string, unknown>, pointer));
  const allowed = closedFields(schema);
  if (allowed) {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        errors.push({
          path: `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`,
          message: `task type '${descriptor.type}' has no input field '${key}' (fields: ${allowed.join(', ')})`,
        });
      }
    }
  }
  return errors;
}
