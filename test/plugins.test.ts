import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sendRequest } from './helpers/api-server.js';
import { createTestDatabase } from './helpers/backends.js';
import { waitUntil } from './helpers/http-fixtures.js';
import { ROOT, startServe } from './helpers/processes.js';

/** In-process plugins loaded through WEFT_PLUGINS by a real `weft serve`. */

const KEY = 'plugin-test-admin-key-0123456789';

describe('plugins (WEFT_PLUGINS)', () => {
  it("validates definitions against a plugin's schemas and runs its handler", async () => {
    const database = await createTestDatabase('sqlite', { migrated: true });
    const serve = await startServe({
      WEFT_DATABASE_URL: database.config.databaseUrl,
      WEFT_DATA_DIR: database.config.dataDir,
      WEFT_ADMIN_KEY: KEY,
      WEFT_PLUGINS: path.join(ROOT, 'test/fixtures/image-plugin.mjs'),
      WEFT_POLL_INTERVAL_MS: '100',
    });
    const api = (method: string, route: string, body?: unknown) =>
      sendRequest(serve.url, method, route, { key: KEY, body });
    try {
      const missing = await api('POST', '/workflows', {
        name: 'no prompt',
        steps: [{ id: 'g', type: 'image.generate', input: {} }],
      });
      assert.equal(missing.status, 400);
      assert.deepEqual(missing.body.errors, [
        { path: '/steps/0/input', message: "task type 'image.generate' requires input field 'prompt'" },
      ]);

      const wrongField = await api('POST', '/workflows', {
        name: 'wrong field',
        steps: [
          { id: 'g', type: 'image.generate', input: { prompt: 'owl' } },
          { id: 'n', type: 'noop', input: '{{ steps.g.output.url }}' },
        ],
      });
      assert.equal(wrongField.status, 400);
      assert.match(wrongField.body.errors[0].message, /task type 'image.generate' outputs image_url, size/);

      const workflow = await api('POST', '/workflows', {
        name: 'owl',
        steps: [{ id: 'g', type: 'image.generate', input: { prompt: '{{ input.prompt }}' } }],
        output: '{{ steps.g.output }}',
      });
      assert.equal(workflow.status, 201);
      const started = await api('POST', `/workflows/${workflow.body.id}/executions`, {
        input: { prompt: 'snowy owl' },
      });
      await waitUntil(
        async () => (await api('GET', `/executions/${started.body.id}`)).body.status === 'completed',
        'the plugin step to run',
      );
      const execution = await api('GET', `/executions/${started.body.id}`);
      assert.deepEqual(execution.body.output, { image_url: '/images/snowy%20owl.png', size: '512x512' });
    } finally {
      await serve.stop('SIGTERM');
      await database.drop();
    }
  });

  it('refuses to start with a plugin that cannot be loaded', async () => {
    const database = await createTestDatabase('sqlite', { migrated: true });
    try {
      await assert.rejects(
        startServe({
          WEFT_DATABASE_URL: database.config.databaseUrl,
          WEFT_DATA_DIR: database.config.dataDir,
          WEFT_PLUGINS: './no/such/plugin.js',
        }),
        /CONFIG_INVALID: WEFT_PLUGINS: cannot load '.\/no\/such\/plugin.js'/,
      );
    } finally {
      await database.drop();
    }
  });
});
