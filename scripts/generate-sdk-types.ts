/**
 * Generates `src/sdk/api-types.ts`, the TypeScript types of every API route, from the OpenAPI
 * document the server serves. Run it with `npm run sdk:types` after changing a route; the test
 * `test/sdk.client.test.ts` fails while the checked-in file differs from what this produces.
 *
 * The server is built in-process on an in-memory SQLite store (nothing listens, nothing is
 * migrated): the document depends only on the route schemas, so it is the same on any machine.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import pino from 'pino';
import { buildServer } from '../src/api/server.js';
import { loadConfig } from '../src/config.js';
import { engineFromConfig } from '../src/engine/engine.js';
import { openStore } from '../src/store/store.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';

/** Where the generated types live, relative to the repository root. */
export const SDK_TYPES_FILE = 'src/sdk/api-types.ts';

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

/** The text `src/sdk/api-types.ts` should have. */
export async function generateSdkTypes(): Promise<string> {
  const ast = await openapiTS(await currentOpenApiDocument(), { silent: true, alphabetize: true });
  return HEADER + astToString(ast);
}

async function main(): Promise<void> {
  const target = path.resolve(import.meta.dirname, '..', SDK_TYPES_FILE);
  await writeFile(target, await generateSdkTypes());
  process.stdout.write(`wrote ${path.relative(process.cwd(), target)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`generate-sdk-types: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
