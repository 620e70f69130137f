import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EXECUTION_FAILURE_CODES } from '../src/engine/execution-error.js';
import { ERROR_REGISTRY, problemType, toProblem, WeftError } from '../src/errors.js';
import { ROOT } from './helpers/processes.js';

describe('error registry', () => {
  const documentation = readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');

  it('documents every code with its status in docs/errors.md', () => {
    for (const [code, entry] of Object.entries(ERROR_REGISTRY)) {
      const row = documentation.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, `docs/errors.md lacks ${code}`);
      assert.ok(row.includes(`| ${entry.status} |`), `docs/errors.md gives ${code} another status`);
    }
  });

  it('documents every execution error code in docs/errors.md', () => {
    const section = documentation.slice(documentation.indexOf('## Execution errors'));
    for (const code of EXECUTION_FAILURE_CODES) {
      assert.ok(
        section.split('\n').some((line) => line.startsWith(`| \`${code}\` |`)),
        `docs/errors.md lacks ${code}`,
      );
    }
  });

  it('builds problem bodies from the registry', () => {
    const problem = toProblem(new WeftError('NOT_FOUND', "workflow 'x' was not found"), '/api/v1/workflows/x');
    assert.deepEqual(problem, {
      type: problemType('NOT_FOUND'),
      title: 'Not found',
      status: 404,
      detail: "workflow 'x' was not found",
      code: 'NOT_FOUND',
      instance: '/api/v1/workflows/x',
    });
    assert.equal(problemType('DATABASE_UNAVAILABLE'), 'urn:weft:problem:database-unavailable');
  });
});
