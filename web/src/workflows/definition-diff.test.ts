import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { definitionDiff } from './definition-diff';

describe('definitionDiff', () => {
  it('lists added and removed lines and folds long unchanged runs', () => {
    const steps = Array.from({ length: 30 }, (_, index) => ({ id: `s${index}`, type: 'noop' }));
    const before = { name: 'w', steps };
    const after = { name: 'w', steps: [...steps.slice(0, 29), { id: 's29', type: 'http' }] };
    const diff = definitionDiff(before, after);
    assert.equal(diff.added, 1);
    assert.equal(diff.removed, 1);
    assert.deepEqual(
      diff.lines
        .filter((line) => line.kind === 'added' || line.kind === 'removed')
        .map((line) => [line.kind, line.text.trim()]),
      [
        ['removed', '"type": "noop"'],
        ['added', '"type": "http"'],
      ],
    );
    assert.ok(
      diff.lines.some((line) => line.kind === 'gap'),
      'the unchanged steps are folded',
    );
    assert.ok(diff.lines.length < 20);
  });

  it('says nothing changed for equal definitions', () => {
    const diff = definitionDiff({ a: 1 }, { a: 1 });
    assert.equal(diff.added + diff.removed, 0);
  });
});
