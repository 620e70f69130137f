import { readFileSync } from 'node:fs';
import { packageFile } from '../package-files.js';

/**
 * Starter definitions served by `GET /templates`. They live as JSON files in the package's
 * `templates/` folder so `weft validate templates/<name>.json` works on them too.
 */

/** A starter definition. */
export interface StarterTemplate {
  id: string;
  name: string;
  description: string;
  definition: Record<string, unknown>;
}

/** Ids of the templates, in the order they are listed. */
export const STARTER_TEMPLATE_IDS = ['webpage-summary', 'image-with-fallback', 'fan-out-fan-in'] as const;

let cached: StarterTemplate[] | undefined;

/** Loads the starter templates (once). */
export function starterTemplates(): StarterTemplate[] {
  cached ??= STARTER_TEMPLATE_IDS.map((id) => {
    const file = packageFile('templates', `${id}.json`);
    const definition = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    return {
      id,
      name: String(definition.name),
      description: String(definition.description ?? ''),
      definition,
    };
  });
  return cached;
}
