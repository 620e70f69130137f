import type { TemplateContext } from '../definition/render.js';
import type { StepOutcome } from '../engine/settle.js';
import type { Store } from '../store/store.js';
import { SecretRedactor } from './secret-redaction.js';
import { redactedMarker, secretNamesOf } from './secret-references.js';
import type { SecretVault } from './secret-vault.js';

/**
 * Secrets in one attempt (SPEC §2: `secrets.NAME` only in step inputs, resolved when the attempt
 * runs, never stored in views). The engine renders the input twice: once with the values, for
 * the handler or the external worker only, and once with `[redacted:NAME]` in their place, which
 * is what the step records and every view, event, webhook and stream shows. Outputs and errors
 * are searched for the values before they are recorded.
 */

/** The secrets an attempt read: values (in memory only) and how to hide them. */
export interface AttemptSecrets {
  values: ReadonlyMap<string, string>;
  redactor: SecretRedactor;
}

/** An input rendered for the handler (`input`) and for the record (`view`). */
export interface RenderedInput {
  input: unknown;
  view: unknown;
}

/**
 * Loads the secrets the input template reads; undefined when it reads none (no query then).
 * Throws SECRET_MISSING or SECRET_UNREADABLE (NonRetryableError) naming the secret.
 */
export async function loadAttemptSecrets(
  vault: SecretVault,
  store: Store,
  workspaceId: string,
  inputTemplate: unknown,
): Promise<AttemptSecrets | undefined> {
  const names = secretNamesOf(inputTemplate);
  if (names.length === 0) return undefined;
  const values = await vault.resolve(store, workspaceId, names);
  return { values, redactor: new SecretRedactor(values) };
}

function withSecrets(context: TemplateContext, values: ReadonlyMap<string, string>): TemplateContext {
  return { ...context, secrets: Object.fromEntries(values) };
}

/**
 * Renders an input with `render` (templates, then mappings) for the handler and for the record.
 * When the marked rendering fails where the real one did not (`$number(secrets.PORT)`), the
 * record is the real input with the values replaced.
 */
export async function renderWithSecrets(
  context: TemplateContext,
  secrets: AttemptSecrets | undefined,
  render: (context: TemplateContext) => Promise<unknown>,
): Promise<RenderedInput> {
  if (!secrets) {
    const input = await render(context);
    return { input, view: input };
  }
  let input: unknown;
  try {
    input = await render(withSecrets(context, secrets.values));
  } catch (error) {
    if (error instanceof Error) error.message = secrets.redactor.text(error.message);
    throw error;
  }
  const markers = new Map([...secrets.values.keys()].map((name) => [name, redactedMarker(name)]));
  let view: unknown;
  try {
    view = await render(withSecrets(context, markers));
  } catch {
    view = input;
  }
  return { input, view: secrets.redactor.value(view) };
}

/** The outcome to record: the marked input, the values replaced in output and error. */
export function redactOutcome(outcome: StepOutcome, view: unknown, secrets: AttemptSecrets | undefined): StepOutcome {
  if (!secrets) return outcome;
  const { redactor } = secrets;
  switch (outcome.kind) {
    case 'completed':
      return { ...outcome, input: view, output: redactor.value(outcome.output) };
    case 'waiting':
      return { ...outcome, input: view, output: redactor.value(outcome.output) };
    case 'failed':
      return { ...outcome, input: view, error: redactor.error(outcome.error) };
    default:
      return outcome;
  }
}
