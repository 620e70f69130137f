import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Execution } from '../../../src/sdk/types';
import { applyEvent } from './apply-event';

const execution = {
  id: 'ex_1',
  status: 'running',
  steps: [
    { step_id: 'a', status: 'running', output: null, error: null },
    { step_id: 'b', status: 'pending', output: null, error: null },
  ],
} as unknown as Execution;
const event = (type: string, data: Record<string, unknown>) => ({
  type,
  timestamp: '2026-01-01T00:00:00Z',
  data: { execution_id: 'ex_1', ...data },
});

describe('applyEvent', () => {
  it('sets a step status and its output from a step event, and the execution status from a workflow event', () => {
    const after = applyEvent(
      execution,
      event('step.completed', { step_id: 'a', status: 'completed', output: { x: 1 } }),
    );
    assert.equal(after.steps?.[0]?.status, 'completed');
    assert.deepEqual(after.steps?.[0]?.output, { x: 1 });
    assert.equal(after.steps?.[1]?.status, 'pending');
    assert.equal(applyEvent(after, event('workflow.completed', { status: 'completed' })).status, 'completed');
  });

  it('is idempotent: the same event twice gives the same state', () => {
    const message = event('step.failed', { step_id: 'b', status: 'failed', error: { message: 'no' } });
    assert.deepEqual(applyEvent(applyEvent(execution, message), message), applyEvent(execution, message));
  });

  it('leaves the step alone for an item event (it carries the item index) and for unknown shapes', () => {
    assert.equal(
      applyEvent(execution, event('step.completed', { step_id: 'a', index: 3, status: 'completed' })),
      execution,
    );
    assert.equal(applyEvent(execution, event('step.started', { step_id: 'a' })), execution);
  });

  it('shows a step about to retry as queued', () => {
    assert.equal(
      applyEvent(execution, event('step.retrying', { step_id: 'a', status: 'running' })).steps?.[0]?.status,
      'queued',
    );
  });
});
