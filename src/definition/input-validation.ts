import { Piscina } from 'piscina';
import { type FieldError, WeftError } from '../errors.js';
import { workerModuleUrl } from '../package-files.js';
import { compileInputSchema, inputValidationCost } from './json-schema.js';

/**
 * Checking an execution's input against its workflow's `input_schema` without blocking the event
 * loop. Validation costs about (values in the input) × (weight of the schema); below
 * SYNC_VALIDATION_COST (measured: ~45 ms at worst here) it runs inline, above it in a worker
 * thread (piscina) under INPUT_VALIDATION_TIMEOUT_MS, so a 1 MiB input against a schema of many
 * patterns never holds the server.
 */

/** Largest estimated cost validated on the event loop (one unit is about 30 ns at worst). */
export const SYNC_VALIDATION_COST = 1_500_000;

/** Longest an off-loop validation may take; past it the start is refused with a 400. */
export const INPUT_VALIDATION_TIMEOUT_MS = 5000;

/** What the worker answers. */
export interface InputValidationResult {
  valid: boolean;
  /** The input with the schema's defaults filled in. */
  input: unknown;
  errors: FieldError[];
}

/** Validates a copy of `input` (defaults fill the copy); used inline and by the worker. */
export function validateInputNow(schema: unknown, input: unknown): InputValidationResult {
  const validate = compileInputSchema(schema);
  const copy = input === undefined ? {} : structuredClone(input);
  if (validate(copy)) return { valid: true, input: copy, errors: [] };
  const errors = (validate.errors ?? []).map((error) => ({
    path: `/input${error.instancePath}`,
    message: error.message ?? 'is invalid',
  }));
  return { valid: false, input: copy, errors };
}

function accept(result: InputValidationResult): unknown {
  if (result.valid) return result.input;
  throw new WeftError('VALIDATION_FAILED', 'the input does not match the workflow input_schema', {
    errors: result.errors,
  });
}

/** True when validating `input` against `schema` may run on the event loop. */
export function isCheapToValidate(schema: unknown, input: unknown): boolean {
  return inputValidationCost(schema, input) <= SYNC_VALIDATION_COST;
}

/**
 * Checks an input on the event loop (contexts that cannot wait, such as a cron fire inside its
 * transaction); an input too costly for that is refused with a 400 that says so.
 */
export function checkInputInline(schema: unknown, input: unknown): unknown {
  if (!isCheapToValidate(schema, input)) {
    throw new WeftError('VALIDATION_FAILED', 'the input is too large to validate against this input_schema here', {
      errors: [
        {
          path: '/input',
          message: `validating it would cost about ${inputValidationCost(schema, input)} units, over the ${SYNC_VALIDATION_COST} allowed inline; send a smaller input or simplify the input_schema`,
        },
      ],
    });
  }
  return accept(validateInputNow(schema, input));
}

let pool: Piscina | undefined;

function validationPool(): Piscina {
  pool ??= new Piscina({
    filename: workerModuleUrl('definition/input-validation-worker'),
    minThreads: 0,
    maxThreads: 1,
    idleTimeout: 30_000,
  });
  return pool;
}

/** Checks an input: inline when cheap, else in the validation worker. Throws the 400 of a bad input. */
export async function checkInput(schema: unknown, input: unknown): Promise<unknown> {
  if (isCheapToValidate(schema, input)) return accept(validateInputNow(schema, input));
  let result: InputValidationResult;
  try {
    result = (await validationPool().run(
      { schema, input },
      { signal: AbortSignal.timeout(INPUT_VALIDATION_TIMEOUT_MS) },
    )) as InputValidationResult;
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
    throw new WeftError('VALIDATION_FAILED', 'validating the input took too long', {
      errors: [
        {
          path: '/input',
          message: `validating it against the input_schema took longer than ${INPUT_VALIDATION_TIMEOUT_MS} ms; send a smaller input or simplify the input_schema`,
        },
      ],
    });
  }
  return accept(result);
}

/** Stops the validation worker (at shutdown; an idle worker never keeps the process alive). */
export async function closeInputValidation(): Promise<void> {
  const current = pool;
  pool = undefined;
  await current?.destroy();
}
