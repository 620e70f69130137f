import { readFile } from 'node:fs/promises';
import { validateDefinition } from '../definition/validate-definition.js';
import { TaskTypeRegistry } from '../tasks/registry.js';

/** The outcome of `weft validate`: lines to print and the exit code. */
export interface ValidateReport {
  lines: string[];
  exitCode: number;
}

/** Validates a definition file against the built-in task types; exit code 1 when invalid. */
export async function validateFile(file: string): Promise<ValidateReport> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return { lines: [`${file}: cannot read: ${(error as Error).message}`], exitCode: 2 };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { lines: [`${file}: not valid JSON: ${(error as Error).message}`], exitCode: 1 };
  }
  const result = validateDefinition(parsed, new TaskTypeRegistry().lookup());
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
