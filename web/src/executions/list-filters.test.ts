import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listQuery, localToIso, readFilters } from './list-filters';

describe('execution list filters', () => {
  it('reads the filters from the URL and sends only the ones set', () => {
    const filters = readFilters(new URLSearchParams('status=failed&label=team:media&reference=&other=1'));
    assert.equal(filters.status, 'failed');
    assert.equal(filters.reference, '');
    assert.deepEqual(listQuery(filters), { status: 'failed', label: ['team:media'] });
  });

  it('sends times as ISO instants and drops a malformed label', () => {
    const filters = readFilters(new URLSearchParams('after=2026-01-02T03:04&before=nonsense&label=nocolon'));
    const query = listQuery(filters);
    assert.equal(query.created_after, new Date('2026-01-02T03:04').toISOString());
    assert.equal(query.created_before, undefined);
    assert.equal(query.label, undefined);
    assert.equal(localToIso(''), undefined);
  });
});
