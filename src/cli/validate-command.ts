import { readFile } from 'node:fs/promises';
import { validateDefinition } from '../definition/validate-definition.js';
import type { WeftClient } from '../sdk/client.js';
import type { WorkflowDefinition } from '../sdk/types.js';
import type { TaskTypeRegistry } from '../tasks/registry.js';

/**
 * `weft validate <file>`: checks a definition against the task types of this process (the
 * built-ins and `WEFT_PLUGINS`' ones) or, with `--url`, against a server's registry through
 * `POST /workflows/validate`, which also knows the types its workers declared. Both print the
 * same report: each error and warning with its path, then the plan's layers.
 */

/** The outcome of `weft validate`: lines to print and the exit code. */
export interface ValidateReport {
  lines: string[];
  exitCode: number;
}

/** What a validation found, locally or on a server (the shape of `POST /workflows/validate`). */
interface Validation {
  valid: boolean;
  errors: readonly { path: string; message: string }[];
  warnings: readonly { path: string; message: string }[];
  plan?: { layers: string[][]; steps: readonly unknown[] } | undefined;
}

/** Reads and parses the file, or answers the report of why it could not be. */
async function readDefinitionFile(file: string): Promise<{ parsed: unknown } | { report: ValidateReport }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return { report: { lines: [`${file}: cannot read: ${(error as Error).message}`], exitCode: 2 } };
  }
  try {
    return { parsed: JSON.parse(text) };
  } catch (error) {
    return { report: { lines: [`${file}: not valid JSON: ${(error as Error).message}`], exitCode: 1 } };
  }
}

function reportOf(file: string, result: Validation): ValidateReport {
  const lines: string[] = [];
  for (const error of result.errors) lines.push(`${file}: error at ${error.path || '/'}: ${error.message}`);
  for (const warning of result.warnings) lines.push(`${file}: warning at ${warning.path || '/'}: ${warning.message}`);
  if (result.valid && result.plan) {
    const layers = result.plan.layers.map((layer, index) => `  ${index + 1}. ${layer.join(', ')}`);
    lines.push(`${file}: valid (${result.plan.steps.length} steps in ${result.plan.layers.length} layers)`, ...layers);
  } else {
    lines.push(`${file}: invalid (${result.errors.length} error${result.errors.length === 1 ? '' : 's'})`);
  }
  return { lines, exitCode: result.valid ? 0 : 1 };
}

/** Validates a definition file against `taskTypes`; exit code 1 when invalid, 2 when unreadable. */
export async function validateFile(file: string, taskTypes: TaskTypeRegistry): Promise<ValidateReport> {
  const read = await readDefinitionFile(file);
  if ('report' in read) return read.report;
  return reportOf(file, validateDefinition(read.parsed, taskTypes.lookup()));
}

/**
 * Validates a definition file on a server, against its workspace's task types (built-in, plugin
 * and declared by workers). An API error (a bad key, a body the server refuses) is thrown as
 * `WeftApiError` for the caller to print.
 */
export async function validateFileOnServer(file: string, client: WeftClient): Promise<ValidateReport> {
  const read = await readDefinitionFile(file);
  if ('report' in read) return read.report;
  // The server checks the shape; a body that is not a definition comes back as errors.
  return reportOf(file, await client.workflows.validate(read.parsed as WorkflowDefinition));
}
