import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { ROOT } from './helpers/processes.js';
import { PROPERTY_SEED, propertyRuns } from './helpers/property-seed.js';

/**
 * Property tests run from a fresh seed each run unless WEFT_TEST_SEED names one, and a failure
 * says which seed replays it (issue 9 item 19).
 */

const root = ROOT;

/** The seed a new process chooses under `env`. */
async function seedOfProcess(env: Record<string, string>): Promise<string> {
  const script = "import('./test/helpers/property-seed.ts').then((m) => console.log(m.PROPERTY_SEED))";
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: root,
    env: { ...process.env, ...env },
  });
  return stdout.trim();
}

describe('property test seeds', () => {
  it('uses WEFT_TEST_SEED when set, and a fresh seed otherwise', async () => {
    assert.equal(await seedOfProcess({ WEFT_TEST_SEED: '945708908' }), '945708908');
    const fresh = await Promise.all([1, 2, 3].map(() => seedOfProcess({ WEFT_TEST_SEED: '' })));
    assert.ok(new Set(fresh).size > 1, `three processes chose ${fresh.join(', ')}`);
    for (const seed of fresh) assert.match(seed, /^-?\d+$/);
  });

  it('names the seed and how to replay it when a property fails', () => {
    assert.throws(
      () =>
        fc.assert(
          fc.property(fc.integer(), (value) => value < 1000),
          propertyRuns(1000),
        ),
      (error: Error) => {
        assert.match(error.message, new RegExp(`seed ${PROPERTY_SEED}`));
        assert.match(error.message, new RegExp(`WEFT_TEST_SEED=${PROPERTY_SEED}`));
        assert.match(error.message, /Counterexample: \[1000\]/);
        return true;
      },
    );
  });

  it('replays the same inputs from the same seed', () => {
    const seen = (): number[] => {
      const values: number[] = [];
      fc.assert(
        fc.property(fc.integer(), (value) => {
          values.push(value);
        }),
        propertyRuns(20),
      );
      return values;
    };
    assert.deepEqual(seen(), seen());
  });
});
