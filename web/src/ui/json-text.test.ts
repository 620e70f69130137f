import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, JSON_DISPLAY_LIMIT_BYTES, jsonText } from './json-text';

describe('jsonText', () => {
  it('shows a small value whole, pretty-printed', () => {
    const text = jsonText({ a: [1, 2] });
    assert.equal(text.truncated, false);
    assert.equal(text.shown, JSON.stringify({ a: [1, 2] }, null, 2));
  });

  it('cuts a value over 256 KiB to the limit and keeps the whole for the download', () => {
    const value = { body: 'x'.repeat(300 * 1024) };
    const text = jsonText(value);
    assert.equal(text.truncated, true);
    assert.equal(new TextEncoder().encode(text.shown).length <= JSON_DISPLAY_LIMIT_BYTES, true);
    assert.ok(text.shown.length > JSON_DISPLAY_LIMIT_BYTES * 0.9);
    assert.deepEqual(JSON.parse(text.full), value);
    assert.equal(text.bytes, new TextEncoder().encode(text.full).length);
  });

  it('counts bytes, not characters, against the limit', () => {
    const text = jsonText('é'.repeat(1000), 1000);
    assert.equal(text.truncated, true);
    assert.ok(new TextEncoder().encode(text.shown).length <= 1000);
  });

  it('formats sizes', () => {
    assert.equal(formatBytes(12), '12 B');
    assert.equal(formatBytes(340 * 1024), '340 KiB');
    assert.equal(formatBytes(1.5 * 1024 * 1024), '1.5 MiB');
  });
});
