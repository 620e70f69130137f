/**
 * The start form generated from a workflow's `input_schema` (SPEC §7): one field per top-level
 * property, typed by the property's schema; nested objects, arrays and anything the form cannot
 * type are JSON fields. Required fields are enforced before the request; the server validates the
 * whole input again (its 400 names the failing path). Written here rather than taken from a form
 * library: the schemas are small, and the libraries (rjsf and the like) weigh more than the UI.
 * Pure: unit-tested in schema-form.test.ts.
 */

/** The kind of input a field is. */
export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'json';

/** One field of the form. */
export interface FormField {
  name: string;
  kind: FieldKind;
  required: boolean;
  title: string;
  description: string | null;
  /** The default as the field's text ('' when none). */
  initial: string;
  options: readonly unknown[];
  /** For strings: a hint for the browser's input type (`url`, `email`, `date-time` → text). */
  inputType: 'text' | 'url' | 'email' | 'number';
  multiline: boolean;
}

type Schema = Record<string, unknown>;

const isObject = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function kindOf(schema: Schema): FieldKind {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return 'enum';
  const type = Array.isArray(schema.type) ? schema.type.filter((entry) => entry !== 'null') : [schema.type];
  if (type.length !== 1) return 'json';
  switch (type[0]) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'integer':
      return 'integer';
    case 'boolean':
      return 'boolean';
    default:
      return 'json';
  }
}

function initialText(kind: FieldKind, value: unknown): string {
  if (value === undefined) return kind === 'boolean' ? 'false' : '';
  if (kind === 'json' || kind === 'enum') return JSON.stringify(value);
  return String(value);
}

/**
 * The fields of a schema. A schema that is not an object schema with properties (or no schema)
 * gives one JSON field named `input` for the whole value.
 */
export function formFields(schema: unknown): { fields: FormField[]; wholeInput: boolean } {
  if (!isObject(schema) || !isObject(schema.properties)) {
    return {
      wholeInput: true,
      fields: [
        {
          name: 'input',
          kind: 'json',
          required: false,
          title: 'Input (JSON)',
          description: isObject(schema) ? 'The whole input, checked against the workflow’s input_schema.' : null,
          initial: '{}',
          options: [],
          inputType: 'text',
          multiline: true,
        },
      ],
    };
  }
  const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  const fields = Object.entries(schema.properties).map(([name, raw]): FormField => {
    const property = isObject(raw) ? raw : {};
    const kind = kindOf(property);
    const format = typeof property.format === 'string' ? property.format : '';
    return {
      name,
      kind,
      required: required.has(name),
      title: typeof property.title === 'string' ? property.title : name,
      description: typeof property.description === 'string' ? property.description : null,
      initial: initialText(kind, property.default),
      options: kind === 'enum' ? (property.enum as unknown[]) : [],
      inputType:
        kind === 'number' || kind === 'integer'
          ? 'number'
          : format === 'uri' || format === 'url'
            ? 'url'
            : format === 'email'
              ? 'email'
              : 'text',
      multiline: kind === 'json' || (typeof property.maxLength === 'number' ? property.maxLength > 200 : false),
    };
  });
  return { fields, wholeInput: false };
}

/** The input the form's texts make, or the errors by field name. */
export function formInput(
  form: { fields: readonly FormField[]; wholeInput: boolean },
  texts: Readonly<Record<string, string>>,
): { input: unknown; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const input: Record<string, unknown> = {};
  for (const field of form.fields) {
    const text = (texts[field.name] ?? field.initial).trim();
    if (text === '' && field.kind !== 'boolean') {
      if (field.required) errors[field.name] = 'required';
      continue;
    }
    switch (field.kind) {
      case 'string':
        input[field.name] = texts[field.name] ?? field.initial;
        break;
      case 'number':
      case 'integer': {
        const number = Number(text);
        if (!Number.isFinite(number)) errors[field.name] = 'not a number';
        else if (field.kind === 'integer' && !Number.isInteger(number)) errors[field.name] = 'not an integer';
        else input[field.name] = number;
        break;
      }
      case 'boolean':
        input[field.name] = text === 'true';
        break;
      case 'enum':
      case 'json':
        try {
          input[field.name] = JSON.parse(text);
        } catch {
          errors[field.name] = 'not valid JSON';
        }
        break;
    }
  }
  if (form.wholeInput) return { input: input.input ?? {}, errors };
  return { input, errors };
}
