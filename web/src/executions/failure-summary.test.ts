import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorText, failureSummary } from './failure-summary';

const step = (step_id: string, status: string, error: unknown, completed_at: string | null, attempts = 1) => ({
  step_id,
  status,
  error,
  completed_at,
  attempts,
});

describe('failureSummary', () => {
  it('names the step the execution error names, with that step’s own error', () => {
    const summary = failureSummary({
      status: 'failed',
      error: { message: "step 'download' failed", step_id: 'download', cause: { message: 'cause' } },
      steps: [
        step('download', 'failed', { message: 'GET answered 503', code: 'HTTP_STATUS' }, '2026-01-01T00:00:02Z', 3),
        step('other', 'failed', { message: 'x' }, '2026-01-01T00:00:01Z'),
      ],
    });
    assert.deepEqual(summary, { stepId: 'download', message: 'GET answered 503', code: 'HTTP_STATUS', attempts: 3 });
  });

  it('takes the failed step that ended first when the error names none', () => {
    const summary = failureSummary({
      status: 'failed',
      error: { message: 'failed' },
      steps: [
        step('b', 'failed', 'late', '2026-01-01T00:00:05Z'),
        step('a', 'failed', 'early', '2026-01-01T00:00:01Z'),
        step('c', 'completed', null, '2026-01-01T00:00:00Z'),
      ],
    });
    assert.equal(summary?.stepId, 'a');
    assert.equal(summary?.message, 'early');
  });

  it('explains a failure without a failed step (a timeout, an output cap) by the execution error', () => {
    assert.deepEqual(
      failureSummary({ status: 'failed', error: { message: 'the execution timed out', code: 'TIMEOUT' }, steps: [] }),
      {
        stepId: null,
        message: 'the execution timed out',
        code: 'TIMEOUT',
        attempts: null,
      },
    );
  });

  it('has nothing to say about an execution that did not fail', () => {
    assert.equal(failureSummary({ status: 'completed', error: null, steps: [] }), null);
    assert.equal(failureSummary({ status: 'cancelled', error: { message: 'x' } }), null);
  });

  it('reads messages from strings, objects and anything else', () => {
    assert.equal(errorText('plain'), 'plain');
    assert.equal(errorText({ message: 'm', code: 'C' }), 'm');
    assert.equal(errorText({ other: 1 }), '{"other":1}');
    assert.equal(errorText(null), '');
  });
});
