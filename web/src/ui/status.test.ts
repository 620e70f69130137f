import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXECUTION_ACTIONS } from '../../../src/engine/states';
import { EXECUTION_STATUSES, executionActions, isTerminalExecution, STATUSES, statusLook } from './status';

describe('status looks', () => {
  it('gives every status a symbol and a word, and tells no two statuses apart by colour alone', () => {
    const seen = new Set<string>();
    for (const status of STATUSES) {
      const look = statusLook(status);
      assert.ok(look.symbol.length > 0, status);
      assert.equal(look.label, status);
      seen.add(`${look.tone}:${look.symbol}`);
    }
    // lost and interrupted share a symbol but differ in tone; every pair differs somewhere.
    assert.equal(seen.size, STATUSES.length);
  });

  it('shows an unknown status by its own name', () => {
    assert.deepEqual(statusLook('hibernating'), { tone: 'neutral', symbol: '•', label: 'hibernating' });
  });

  it('offers exactly the actions the server allows from each execution status', () => {
    for (const status of EXECUTION_STATUSES) {
      const expected = Object.entries(EXECUTION_ACTIONS)
        .filter(([, rule]) => (rule.from as readonly string[]).includes(status))
        .map(([action]) => action);
      assert.deepEqual(executionActions(status), expected, status);
    }
    assert.deepEqual(executionActions('running'), ['pause', 'cancel']);
    assert.ok(isTerminalExecution('failed'));
    assert.ok(!isTerminalExecution('paused'));
  });
});
