import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formFields, formInput } from './schema-form';

const schema = {
  type: 'object',
  required: ['url', 'count'],
  properties: {
    url: { type: 'string', format: 'uri', description: 'The page' },
    count: { type: 'integer', default: 3 },
    ratio: { type: 'number' },
    strict: { type: 'boolean' },
    mode: { enum: ['fast', 'full'] },
    tags: { type: 'array', items: { type: 'string' } },
  },
};

describe('formFields', () => {
  it('makes one typed field per property, with required ones marked and defaults filled', () => {
    const form = formFields(schema);
    assert.equal(form.wholeInput, false);
    assert.deepEqual(
      form.fields.map((field) => [field.name, field.kind, field.required, field.initial]),
      [
        ['url', 'string', true, ''],
        ['count', 'integer', true, '3'],
        ['ratio', 'number', false, ''],
        ['strict', 'boolean', false, 'false'],
        ['mode', 'enum', false, ''],
        ['tags', 'json', false, ''],
      ],
    );
    assert.equal(form.fields[0]?.inputType, 'url');
    assert.equal(form.fields[0]?.description, 'The page');
  });

  it('asks for the whole input as JSON when there is no object schema', () => {
    for (const none of [undefined, true, { type: 'array' }]) {
      const form = formFields(none);
      assert.equal(form.wholeInput, true);
      assert.deepEqual(formInput(form, { input: '[1, 2]' }), { input: [1, 2], errors: {} });
    }
  });
});

describe('formInput', () => {
  it('enforces required fields and types before anything is sent', () => {
    const form = formFields(schema);
    assert.deepEqual(formInput(form, { count: '' }).errors, { url: 'required', count: 'required' });
    assert.deepEqual(formInput(form, { url: 'https://x', count: '2.5' }).errors, { count: 'not an integer' });
    assert.deepEqual(formInput(form, { url: 'https://x', ratio: 'abc', tags: '[' }).errors, {
      ratio: 'not a number',
      tags: 'not valid JSON',
    });
  });

  it('builds the input with typed values and leaves out empty optional fields', () => {
    const form = formFields(schema);
    const { input, errors } = formInput(form, {
      url: 'https://x',
      count: '7',
      strict: 'true',
      mode: '"full"',
      tags: '["a"]',
    });
    assert.deepEqual(errors, {});
    assert.deepEqual(input, { url: 'https://x', count: 7, strict: true, mode: 'full', tags: ['a'] });
  });
});
