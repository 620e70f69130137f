import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createTestDatabase, testBackends } from './helpers/backends.js';
import { ROOT, startServe } from './helpers/processes.js';

/**
 * The README's "First steps with curl" recipe, run as written by bash against a real `weft serve`.
 * Only the address changes (the server listens on a free port, not 8080). Every curl of the recipe
 * goes through a wrapper that fails the script on any answer that is not 2xx and writes the status
 * and method of each call to stderr, so the test sees what a user sees at each line.
 */
function readmeRecipe(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## First steps with curl'));
  const match = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(match?.[1], 'the README has a sh block under "First steps with curl"');
  return match[1];
}

const CURL_WRAPPER = `set -euo pipefail
curl() { command curl --fail-with-body --show-error --write-out '%{stderr}%{http_code} %{method} %{url_effective}\\n' "$@"; }
`;

function runBash(script: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const backend of testBackends()) {
  describe(`the README's curl recipe (${backend})`, () => {
    it('runs as written: every call answers 2xx, in the order and with the statuses the README names', async () => {
      const database = await createTestDatabase(backend, { migrated: true });
      const folder = mkdtempSync(path.join(os.tmpdir(), 'weft-readme-'));
      const serve = await startServe({
        WEFT_DATA_DIR: path.join(folder, 'data'),
        WEFT_DATABASE_URL: database.config.databaseUrl,
      });
      try {
        symlinkSync(path.join(ROOT, 'templates'), path.join(folder, 'templates'));
        const recipe = readmeRecipe();
        assert.match(recipe, /http:\/\/localhost:8080\/api\/v1/);
        const script = CURL_WRAPPER + recipe.replace('http://localhost:8080', serve.url);
        const result = await runBash(script, folder);
        assert.equal(result.code, 0, `the recipe failed:\n${result.stderr}\n${result.stdout}`);

        const calls = result.stderr
          .trim()
          .split('\n')
          .map((line) => {
            const [status, method, url] = line.split(' ');
            return `${status} ${method} ${new URL(url ?? '').pathname.replace(/\/(wf|ex)_\w+/g, '/$1_…')}`;
          });
        assert.deepEqual(calls, [
          '200 GET /api/v1/templates',
          '200 POST /api/v1/workflows/validate',
          '201 POST /api/v1/workflows',
          '200 GET /api/v1/workflows',
          '200 GET /api/v1/workflows/wf_…',
          '200 PUT /api/v1/workflows/wf_…',
          '200 GET /api/v1/workflows/wf_…/versions',
          '200 GET /api/v1/workflows/wf_…',
          '200 PATCH /api/v1/workflows/wf_…',
          '202 POST /api/v1/workflows/wf_…/executions',
          '200 GET /api/v1/executions/ex_…/status',
          '200 GET /api/v1/executions/ex_…/timeline',
          '200 POST /api/v1/executions/ex_…/cancel',
          '201 POST /api/v1/workflows',
          '200 POST /api/v1/workflows/wf_…/executions',
          '204 DELETE /api/v1/workflows/wf_…',
        ]);
        // What the recipe printed: the list found the new workflow, the PUT made version 2 with the
        // edited description, and the cancel ended the run.
        assert.match(result.stdout, /"labels":\{"template":"webpage-summary"\}/);
        assert.match(result.stdout, /"version":2/);
        assert.match(result.stdout, /"description":"My summaries"/);
        assert.match(result.stdout, /"labels":\{"team":"media"\}/);
        assert.match(result.stdout, /"status":"cancelled"/);
        // The start that waited answered the ended execution, with the transform's result.
        const waited = result.stdout.slice(result.stdout.lastIndexOf('{"id":"ex_'));
        assert.match(waited, /"status":"completed"/);
        assert.match(waited, /"output":\{"doubled":42\}/);
      } finally {
        await serve.stop();
        rmSync(folder, { recursive: true, force: true });
        await database.drop();
      }
    });
  });
}
