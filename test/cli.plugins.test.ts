import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, runCli } from './helpers/processes.js';

/**
 * `weft run` and `weft validate` load the task types of WEFT_PLUGINS as `weft serve` does
 * (docs/cli.md, docs/plugins.md). No server is involved.
 */

describe('weft run and weft validate load WEFT_PLUGINS', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'weft-cli-plugins-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const plugin = { WEFT_PLUGINS: path.join(ROOT, 'test/fixtures/image-plugin.mjs') };

  it("validates and runs a plugin's task type, which is unknown without it", async () => {
    const definition = path.join(dir, 'image.json');
    writeFileSync(
      definition,
      JSON.stringify({
        name: 'image',
        steps: [{ id: 'g', type: 'image.generate', input: { prompt: '{{ input.prompt }}' } }],
        output: '{{ steps.g.output }}',
      }),
    );
    const [validated, ran, without] = await Promise.all([
      runCli(['validate', definition], { env: plugin }),
      runCli(['run', definition, '--input', '{"prompt": "owl"}'], { env: plugin }),
      runCli(['validate', definition]),
    ]);
    assert.equal(validated.code, 0, validated.stderr);
    assert.match(validated.stdout, /valid \(1 steps in 1 layers\)/);
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(JSON.parse(ran.stdout), { image_url: '/images/owl.png', size: '512x512' });
    assert.match(ran.stderr, /g: completed/);
    assert.equal(without.code, 1);
    assert.match(without.stderr, /unknown task type 'image.generate'/);

    // The plugin's input schema applies to validate as to serve.
    const wrong = path.join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ name: 'w', steps: [{ id: 'g', type: 'image.generate', input: {} }] }));
    const refused = await runCli(['validate', wrong], { env: plugin });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /task type 'image.generate' requires input field 'prompt'/);
  });

  it("keeps a plugin's NonRetryableError from its own copy of the package: no retries", async () => {
    // The command runs from its bundle; the plugin imports 'weft' (dist/index.js): two copies of
    // the class, which must still be one class to the engine (src/tasks/task-outcomes.ts).
    const definition = path.join(dir, 'refuse.json');
    writeFileSync(
      definition,
      JSON.stringify({
        name: 'refuse',
        steps: [{ id: 'r', type: 'test.refuse', retry: { max_attempts: 3, delay_ms: 1000 } }],
      }),
    );
    const ran = await runCli(['run', definition], {
      env: { WEFT_PLUGINS: path.join(ROOT, 'test/fixtures/refusing-plugin.mjs') },
    });
    assert.equal(ran.code, 1, ran.stderr);
    assert.match(ran.stderr, /refused for good/);
    assert.match(ran.stderr, /r: failed\n/, 'failed at its first attempt');
    assert.doesNotMatch(ran.stderr, /attempt 2/);
  });

  it('refuses a plugin that cannot be loaded, naming it', async () => {
    const definition = path.join(ROOT, 'templates/webpage-summary.json');
    const results = await Promise.all([
      runCli(['validate', definition], { env: { WEFT_PLUGINS: './no/such/plugin.js' } }),
      runCli(['run', definition], { env: { WEFT_PLUGINS: './no/such/plugin.js' } }),
    ]);
    for (const result of results) {
      assert.equal(result.code, 1);
      assert.match(result.stderr, /CONFIG_INVALID: WEFT_PLUGINS: cannot load '.\/no\/such\/plugin.js'/);
    }
  });
});
