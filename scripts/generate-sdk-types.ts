/**
 * Generates `src/sdk/api-types/`, the TypeScript types of every API route, from the OpenAPI
 * document the server serves. Run it with `npm run sdk:types` after changing a route; the test
 * `test/sdk.client.test.ts` fails while the checked-in file differs from what this produces.
 *
 * The server is built in-process on an in-memory SQLite store (nothing listens, nothing is
 * migrated): the document depends only on the route schemas, so it is the same on any machine.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import pino from 'pino';
import { buildServer } from '../src/api/server.js';
import { loadConfig } from '../src/config.js';
import { engineFromConfig } from '../src/engine/engine-from-config.js';
import { openStore } from '../src/store/store.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';

/** Where the generated types live, relative to the repository root: one file per API area. */
export const SDK_TYPES_DIR = 'src/sdk/api-types';

/**
 * API areas by the first path segment after `/api/v1` (lifecycle actions of executions are an
 * area of their own; anything else is `service`).
 */
const AREAS: Record<string, string[]> = {
  workflows: ['workflows', 'templates'],
  executions: ['executions'],
  workers: ['tasks', 'task-types', 'workers'],
  events: ['events', 'webhooks'],
  admin: ['workspaces', 'api-keys', 'secrets'],
};

const HEADER = `${COMMENT_HEADER.trimEnd()}
// Generated from the server's OpenAPI document by scripts/generate-sdk-types.ts: run \`npm run sdk:types\`.
/* biome-ignore-all format: generated code keeps openapi-typescript's layout. */

`;

/** The OpenAPI document of the current route schemas. */
export async function currentOpenApiDocument(): Promise<OpenAPI3> {
  // Defaults only: the process environment must not change the document.
  const config = { ...loadConfig({}), databaseUrl: ':memory:', logLevel: 'silent' as const };
  const logger = pino({ level: 'silent' });
  const store = openStore(config, (error) => logger.warn({ err: error }, 'idle database connection failed'));
  try {
    const taskTypes = new TaskTypeRegistry();
    const engine = engineFromConfig(store, taskTypes, logger, config);
    const app = await buildServer({ store, taskTypes, config, logger, engine });
    try {
      await app.ready();
      // A JSON round trip drops undefined values and gives openapi-typescript a plain object.
      return JSON.parse(JSON.stringify(app.swagger())) as OpenAPI3;
    } finally {
      await app.close();
    }
  } finally {
    await store.close();
  }
}

/** `paths` with the operations' `operationId`s left out (see `generateSdkTypes`). */
function withoutOperationIds(paths: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(paths).map(([route, item]) => [
      route,
      Object.fromEntries(
        Object.entries(item as Record<string, unknown>).map(([method, operation]) => {
          if (operation === null || typeof operation !== 'object') return [method, operation];
          const { operationId: _id, ...rest } = operation as Record<string, unknown>;
          return [method, rest];
        }),
      ),
    ]),
  );
}

function areaOf(route: string): string {
  if (/^\/api\/v1\/executions\/\{id\}\/(start|pause|resume|cancel|retry|cleanup)$/.test(route)) {
    return 'execution-actions';
  }
  const segment = route.replace(/^\/api\/v1\//, '').split('/')[0] ?? '';
  return (
    Object.entries(AREAS).find(([, segments]) => route.startsWith('/api/v1/') && segments.includes(segment))?.[0] ??
    'service'
  );
}

/** `execution-actions` → `ExecutionActionsPaths`. */
const typeName = (area: string) =>
  `${area
    .split('-')
    .map((word) => `${word[0]?.toUpperCase()}${word.slice(1)}`)
    .join('')}Paths`;

/**
 * The files of `src/sdk/api-types/`, by name: the shared schemas (`components.ts`), the routes of
 * each API area (`workflows.ts`, …) and `index.ts` joining them into `paths`. openapi-typescript
 * writes each area's routes; their references to shared schemas point at `components.ts`.
 */
export async function generateSdkTypes(): Promise<Map<string, string>> {
  const document = await currentOpenApiDocument();
  const generate = async (paths: Record<string, unknown>) =>
    astToString(
      // Without operation ids: with them openapi-typescript moves each operation into one
      // `operations` interface, which the per-area files here would all have to share.
      await openapiTS({ ...document, paths: withoutOperationIds(paths) } as OpenAPI3, {
        silent: true,
        alphabetize: true,
        // A field is required only when the schema says so: a default makes it optional to send
        // (shared schemas serve requests and answers alike).
        defaultNonNullable: false,
      }),
    );
  const files = new Map<string, string>();
  const shared = await generate({});
  files.set('components.ts', HEADER + shared.slice(shared.indexOf('export interface components')));

  const byArea = new Map<string, Record<string, unknown>>();
  for (const [route, item] of Object.entries(document.paths ?? {})) {
    const area = areaOf(route);
    byArea.set(area, { ...byArea.get(area), [route]: item });
  }
  const areas = [...byArea.keys()].sort();
  for (const area of areas) {
    const text = await generate(byArea.get(area) ?? {});
    const routes = text
      .slice(0, text.indexOf('export type webhooks'))
      .replace('export interface paths {', `export interface ${typeName(area)} {`)
      .trimEnd();
    const imports = routes.includes('components[') ? "import type { components } from './components.js';\n\n" : '';
    files.set(`${area}.ts`, `${HEADER}${imports}${routes}\n`);
  }
  files.set(
    'index.ts',
    `${HEADER}${areas.map((area) => `import type { ${typeName(area)} } from './${area}.js';`).join('\n')}\n\n` +
      `export type { components } from './components.js';\n\n` +
      `/** Every route of the API, keyed by path (with its \`/api/v1\` prefix), then method. */\n` +
      `export type paths = ${areas.map(typeName).join(' & ')};\n`,
  );
  return files;
}

async function main(): Promise<void> {
  const directory = path.resolve(import.meta.dirname, '..', SDK_TYPES_DIR);
  await rm(directory, { recursive: true, force: true });
  await mkdir(directory, { recursive: true });
  for (const [name, text] of await generateSdkTypes()) await writeFile(path.join(directory, name), text);
  process.stdout.write(`wrote ${path.relative(process.cwd(), directory)}/\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`generate-sdk-types: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
