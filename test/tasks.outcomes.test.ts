import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { packageFile } from '../src/package-files.js';
import { NonRetryableError, RetryableError, toStepError, WaitUntil } from '../src/tasks/task-outcomes.js';

/**
 * The outcome classes a handler throws or returns keep their meaning across copies of their module
 * (a plugin importing the package's build while the server runs from its bundle or from src/).
 */

/**
 * A second, separately evaluated copy of the module, as a plugin's import of the package gets: the
 * package's build in dist/ (the test itself runs from src/ through tsx, or from the test run's
 * bundle), loaded under a URL of its own.
 */
async function otherCopy(): Promise<typeof import('../src/tasks/task-outcomes.js')> {
  const built = pathToFileURL(packageFile('dist', 'tasks', 'task-outcomes.js')).href;
  return import(`${built}?copy=${Math.random()}`);
}

describe('task outcomes across module copies', () => {
  it('takes another copy’s instances for its own, and an ordinary Error for none of them', async () => {
    const copy = await otherCopy();
    assert.notEqual(copy.NonRetryableError, NonRetryableError, 'a separate copy of the class');
    const refusal = new copy.NonRetryableError('no', { code: 'SIZE_LIMIT', details: { limit: 1 } });
    assert.ok(refusal instanceof NonRetryableError);
    assert.ok(refusal instanceof Error);
    assert.deepEqual(toStepError(refusal), {
      message: 'no',
      retryable: false,
      code: 'SIZE_LIMIT',
      details: { limit: 1 },
    });
    assert.ok(new copy.RetryableError('again') instanceof RetryableError);
    assert.ok(new copy.WaitUntil(new Date(0), 1) instanceof WaitUntil);
    assert.equal(new Error('plain') instanceof NonRetryableError, false);
    assert.equal(new copy.RetryableError('again') instanceof NonRetryableError, false);
    assert.equal(toStepError(new Error('plain')).retryable, true);
  });

  it('keeps a subclass’s own instanceof: its parent’s instances are not its own', () => {
    class QuotaRefusal extends NonRetryableError {}
    assert.ok(new QuotaRefusal('quota') instanceof NonRetryableError);
    assert.ok(new QuotaRefusal('quota') instanceof QuotaRefusal);
    assert.equal(new NonRetryableError('no') instanceof QuotaRefusal, false);
  });
});
