import { type InputValidationResult, validateInputNow } from './input-validation.js';

/** The validation worker's task (piscina calls the default export): input-validation.ts. */
export default function validateInTask(task: { schema: unknown; input: unknown }): InputValidationResult {
  return validateInputNow(task.schema, task.input);
}
