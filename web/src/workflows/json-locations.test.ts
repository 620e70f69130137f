import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { locateJson, locatePath } from './json-locations';

const text = `{
  "name": "x",
  "steps": [
    {"id": "a", "type": "htpp"},
    {"id": "b/c", "type": "noop", "input": {"k": [1, 2]}}
  ]
}`;

describe('locateJson', () => {
  it('finds every value by JSON Pointer with its line', () => {
    const { locations, problem } = locateJson(text);
    assert.equal(problem, null);
    const type = locations.get('/steps/0/type');
    assert.equal(type?.line, 4);
    assert.equal(text.slice(type?.start, type?.end), '"htpp"');
    assert.equal(text.slice(locations.get('/steps/1/input/k/1')?.start, locations.get('/steps/1/input/k/1')?.end), '2');
    assert.equal(locations.get('/steps/1/id')?.line, 5);
    assert.equal(locations.get('')?.start, 0);
  });

  it('escapes / and ~ in keys as JSON Pointer does', () => {
    const { locations } = locateJson('{"a/b": {"c~d": 1}}');
    assert.ok(locations.has('/a~1b/c~0d'));
  });

  it('reports the first syntax error with its line and column', () => {
    const { problem } = locateJson('{\n  "a": 1,\n  "b" 2\n}');
    assert.equal(problem?.line, 3);
    assert.equal(problem?.column, 7);
    assert.match(problem?.message ?? '', /expected ':'/);
    assert.match(locateJson('{"a": [1, 2}').problem?.message ?? '', /expected ',' or ']'/);
    assert.match(locateJson('').problem?.message ?? '', /end of the text/);
    assert.match(locateJson('{} x').problem?.message ?? '', /after the JSON value/);
  });

  it('agrees with JSON.parse on what is valid', () => {
    for (const sample of ['1', '"s"', '[]', '{}', '[1, {"a": null, "b": [true, false, -1.5e3]}]', '"\\u00e9\\n"']) {
      assert.equal(locateJson(sample).problem, null, sample);
      JSON.parse(sample);
    }
  });
});

describe('locatePath', () => {
  it('falls back to the nearest enclosing value for a missing field', () => {
    const { locations } = locateJson(text);
    assert.equal(locatePath(locations, '/steps/1/input/missing')?.line, 5);
    assert.equal(locatePath(locations, '/nothing/here')?.start, 0);
  });
});
