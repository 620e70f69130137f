import fc from 'fast-check';

/**
 * The seed of every property test (fast-check) in this process: `WEFT_TEST_SEED` when it is set
 * (to replay a failure), else a fresh one each run, so repeated runs explore new inputs instead of
 * the same ones. A failure names the seed and the command that replays it.
 */

function chooseSeed(): number {
  const given = process.env.WEFT_TEST_SEED;
  if (given === undefined || given === '') return (Math.random() * 2 ** 31) | 0;
  const seed = Number(given);
  if (!Number.isSafeInteger(seed)) throw new Error(`WEFT_TEST_SEED must be an integer, not '${given}'`);
  return seed;
}

/** The seed this process's property tests use. */
export const PROPERTY_SEED = chooseSeed();

/** What a failed run reports: fast-check's counterexample and shrink path, then how to replay it. */
function reportFailure<T>(details: fc.RunDetails<T>): void {
  if (!details.failed) return;
  const replay = `replay with WEFT_TEST_SEED=${details.seed} node scripts/run-tests.mjs <this file>`;
  throw new Error(`${fc.defaultReportMessage(details) ?? 'property failed'}\nseed ${details.seed}: ${replay}`);
}

/**
 * Options for `fc.assert`: `numRuns` runs from `PROPERTY_SEED`, failures reported with the seed.
 * Every `fc.assert` of the suite takes its options from here.
 */
export function propertyRuns<T>(numRuns: number): fc.Parameters<T> {
  return { numRuns, seed: PROPERTY_SEED, reporter: reportFailure };
}
