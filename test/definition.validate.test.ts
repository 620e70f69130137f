import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_STEPS } from '../src/definition/definition-schema.js';
import { starterTemplates } from '../src/definition/starter-templates.js';
import { validateDefinition } from '../src/definition/validate-definition.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';
import { defineTask } from '../src/tasks/task-type.js';

const builtins = new TaskTypeRegistry().lookup();

function validate(definition: unknown) {
  return validateDefinition(definition, builtins);
}

/** The one error at `path`, failing when there is none. */
function errorAt(definition: unknown, path: string) {
  const result = validate(definition);
  assert.equal(result.valid, false, 'definition should be invalid');
  const found = result.errors.filter((error) => error.path === path);
  assert.ok(found.length > 0, `no error at ${path}; errors: ${JSON.stringify(result.errors)}`);
  return found.map((error) => error.message).join(' | ');
}

const step = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'noop', ...extra });

describe('definition validation', () => {
  it('accepts a valid pipeline and returns its plan in layers', () => {
    const result = validate({
      name: 'Pipeline',
      steps: [
        { id: 'download', type: 'http', input: { url: '{{ input.url }}' } },
        { id: 'extract', type: 'html.extract_text', input: { html: '{{ steps.download.output.body }}' } },
        { id: 'side', type: 'noop' },
        {
          id: 'summarize',
          type: 'llm.chat',
          input: { prompt: '{{ steps.extract.output.text }}' },
          depends_on: ['side'],
        },
      ],
      output: { summary: '{{ steps.summarize.output.text }}' },
    });
    assert.deepEqual(result.errors, []);
    assert.equal(result.valid, true);
    assert.deepEqual(result.plan?.layers, [['download', 'side'], ['extract'], ['summarize']]);
    const summarize = result.plan?.steps.find((planned) => planned.id === 'summarize');
    assert.deepEqual(summarize?.dependencies, ['side', 'extract']);
  });

  it('accepts every starter template', () => {
    for (const template of starterTemplates()) {
      const result = validate(template.definition);
      assert.deepEqual(result.errors, [], `template ${template.id}`);
    }
  });

  it('rejects a non-object definition', () => {
    assert.match(errorAt([1, 2], ''), /must be a JSON object/);
    assert.match(errorAt('text', ''), /must be a JSON object/);
  });

  it('rejects unknown fields at the top level and in steps', () => {
    const definition = { name: 'x', colour: 'red', steps: [step('a', { retries: 3 })] };
    assert.equal(errorAt(definition, '/colour'), "unknown field 'colour'");
    assert.equal(errorAt(definition, '/steps/0/retries'), "unknown field 'retries'");
  });

  it('rejects missing required fields and wrong types', () => {
    assert.match(errorAt({ steps: [step('a')] }, '/name'), /required field 'name' is missing/);
    assert.match(errorAt({ name: 'x', steps: [] }, '/steps'), /must NOT have fewer than 1 items/);
    assert.match(errorAt({ name: 'x', steps: [step('a', { run_if: 'sometimes' })] }, '/steps/0/run_if'), /one of/);
    assert.match(errorAt({ name: 5, steps: [step('a')] }, '/name'), /must be string/);
  });

  it('rejects bad and duplicate step ids', () => {
    assert.match(errorAt({ name: 'x', steps: [step('1st')] }, '/steps/0/id'), /invalid step id/);
    assert.match(errorAt({ name: 'x', steps: [step('has space')] }, '/steps/0/id'), /invalid step id/);
    assert.match(errorAt({ name: 'x', steps: [step('a'.repeat(65))] }, '/steps/0/id'), /invalid step id/);
    const duplicate = errorAt({ name: 'x', steps: [step('a'), step('b'), step('a')] }, '/steps/2/id');
    assert.equal(duplicate, "duplicate step id 'a' (first at /steps/0)");
  });

  it('rejects unknown step types, with a suggestion, also in fallbacks', () => {
    const definition = { name: 'x', steps: [{ id: 'a', type: 'htpp', fallback: { type: 'image.magic' } }] };
    assert.equal(errorAt(definition, '/steps/0/type'), "unknown task type 'htpp' (did you mean 'http'?)");
    assert.equal(errorAt(definition, '/steps/0/fallback/type'), "unknown task type 'image.magic'");
  });

  it('rejects unknown depends_on targets and warns on repeated ones', () => {
    const message = errorAt(
      { name: 'x', steps: [step('fetch'), step('b', { depends_on: ['fetchh'] })] },
      '/steps/1/depends_on/0',
    );
    assert.equal(message, "depends on unknown step 'fetchh' (did you mean 'fetch'?)");
    const result = validate({ name: 'x', steps: [step('a'), step('b', { depends_on: ['a', 'a'] })] });
    assert.equal(result.valid, true);
    assert.deepEqual(result.warnings, [{ path: '/steps/1/depends_on/1', message: "'a' is listed twice" }]);
  });

  it('names the cycle, through explicit and template dependencies', () => {
    const definition = {
      name: 'x',
      steps: [
        step('a', { depends_on: ['c'] }),
        step('b', { input: '{{ steps.a.output }}' }),
        step('c', { depends_on: ['b'] }),
        step('free'),
      ],
    };
    assert.equal(errorAt(definition, '/steps/0'), 'dependency cycle: a -> c -> b -> a (each step depends on the next)');
    assert.match(errorAt({ name: 'x', steps: [step('self', { depends_on: ['self'] })] }, '/steps/0'), /self -> self/);
  });

  it('reports template syntax errors with their position', () => {
    const definition = { name: 'x', steps: [step('a', { input: { nested: ['ok', 'value {{ input.a + }}'] } })] };
    assert.match(errorAt(definition, '/steps/0/input/nested/1'), /syntax error at character \d+: JSONata/);
    assert.match(errorAt({ name: 'x', steps: [step('a', { input: 'x {{ input.a' })] }, '/steps/0/input'), /not closed/);
    assert.match(errorAt({ name: 'x', steps: [step('a', { when: 'input.a = ' })] }, '/steps/0/when'), /syntax error/);
    assert.match(errorAt({ name: 'x', steps: [step('a')], output: '{{ }}' }, '/output'), /empty expression/);
  });

  it('rejects references to missing steps and to fields a step does not have', () => {
    const definition = {
      name: 'x',
      steps: [
        { id: 'download', type: 'http', input: { url: 'https://example.org' } },
        step('b', { input: { a: '{{ steps.downlaod.output }}', b: '{{ steps.download.outptu }}' } }),
        step('c', { input: '{{ steps.download.output.bodyy }}' }),
      ],
      output: '{{ steps.ghost.output }}',
    };
    assert.equal(
      errorAt(definition, '/steps/1/input/a'),
      "references unknown step 'steps.downlaod' (did you mean 'download'?)",
    );
    assert.match(errorAt(definition, '/steps/1/input/b'), /'steps.download.outptu' does not exist/);
    assert.match(errorAt(definition, '/steps/2/input'), /task type 'http' outputs status, headers, body/);
    assert.match(errorAt(definition, '/output'), /unknown step 'steps.ghost'/);
  });

  it('turns template references and input mappings into dependencies', () => {
    const result = validate({
      name: 'x',
      steps: [
        step('generate'),
        step('other'),
        step('refine', {
          input: { a: '{{ $$.steps.other.output }}' },
          input_mappings: [{ from_step: 'generate', from_field: 'url', to_field: 'image', transform: '$uppercase($)' }],
        }),
      ],
    });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.plan?.steps[2]?.dependencies.sort(), ['generate', 'other']);
    assert.match(
      errorAt(
        { name: 'x', steps: [step('a', { input_mappings: [{ from_step: 'zz', to_field: 'f' }] })] },
        '/steps/0/input_mappings/0/from_step',
      ),
      /unknown step 'zz'/,
    );
  });

  it('chains steps when sequential is true', () => {
    const result = validate({
      name: 'x',
      sequential: true,
      steps: [step('a'), step('b'), step('c', { depends_on: ['a'] })],
    });
    assert.deepEqual(result.plan?.layers, [['a'], ['b'], ['c']]);
  });

  it('parses templates whose expressions contain braces and quotes', () => {
    const result = validate({
      name: 'x',
      steps: [step('a', { input: { object: '{{ {"k": {"n": 1}} }}', text: "{{ '}}' & input.x }} tail" } })],
    });
    assert.deepEqual(result.errors, []);
  });

  it('checks input_schema as JSON Schema 2020-12', () => {
    assert.match(
      errorAt({ name: 'x', steps: [step('a')], input_schema: { type: 'objekt' } }, '/input_schema/type'),
      /must be/,
    );
    assert.match(
      errorAt({ name: 'x', steps: [step('a')], input_schema: { $ref: '#/$defs/missing' } }, '/input_schema'),
      /invalid JSON Schema/,
    );
    assert.equal(
      validate({ name: 'x', steps: [step('a')], input_schema: { type: 'object', required: ['u'] } }).valid,
      true,
    );
  });

  it('checks triggers: cron syntax, time zones and trigger kinds', () => {
    const base = { name: 'x', steps: [step('a')] };
    assert.match(
      errorAt({ ...base, triggers: [{ cron: '61 * * * *' }] }, '/triggers/0/cron'),
      /invalid cron expression '61 \* \* \* \*'/,
    );
    assert.match(errorAt({ ...base, triggers: [{ cron: 'every day' }] }, '/triggers/0/cron'), /invalid cron/);
    assert.match(
      errorAt({ ...base, triggers: [{ cron: '* * * * *', timezone: 'Mars/Base' }] }, '/triggers/0/timezone'),
      /unknown time zone/,
    );
    assert.match(errorAt({ ...base, triggers: [{}] }, '/triggers/0'), /needs 'event'/);
    assert.match(errorAt({ ...base, triggers: [{ event: 'a', cron: '* * * * *' }] }, '/triggers/0'), /not both/);
    assert.match(
      errorAt({ ...base, triggers: [{ event: 'a', condition: 'data.size <' }] }, '/triggers/0/condition'),
      /syntax error/,
    );
    const valid = validate({
      ...base,
      triggers: [
        { cron: '*/5 * * * *', timezone: 'Europe/Paris' },
        { event: 'file.uploaded', match: { media_type: ['image'] } },
      ],
    });
    assert.deepEqual(valid.errors, []);
  });

  it('checks step inputs against task type schemas', () => {
    assert.equal(
      errorAt({ name: 'x', steps: [{ id: 'a', type: 'http', input: {} }] }, '/steps/0/input'),
      "task type 'http' requires input field 'url'",
    );
    assert.match(
      errorAt(
        { name: 'x', steps: [{ id: 'a', type: 'http', input: { url: 'u', methd: 'GET' } }] },
        '/steps/0/input/methd',
      ),
      /has no input field 'methd'/,
    );
    assert.match(
      errorAt({ name: 'x', steps: [{ id: 'a', type: 'delay', input: {} }] }, '/steps/0/input'),
      /'seconds' or 'until'/,
    );
    // A field supplied by an input mapping counts as present.
    const mapped = validate({
      name: 'x',
      steps: [step('a'), { id: 'b', type: 'http', input: {}, input_mappings: [{ from_step: 'a', to_field: 'url' }] }],
    });
    assert.deepEqual(mapped.errors, []);
  });

  it('uses plugin schemas: missing required inputs and unknown output fields', () => {
    const registry = new TaskTypeRegistry();
    registry.register(
      defineTask({
        type: 'image.generate',
        description: 'test plugin',
        inputSchema: { type: 'object', required: ['prompt'], properties: { prompt: { type: 'string' } } },
        outputSchema: { type: 'object', additionalProperties: false, properties: { image_url: { type: 'string' } } },
      }),
    );
    const result = validateDefinition(
      {
        name: 'x',
        steps: [{ id: 'g', type: 'image.generate', input: {} }, step('n', { input: '{{ steps.g.output.url }}' })],
      },
      registry.lookup(),
    );
    assert.deepEqual(
      result.errors.map((error) => error.message),
      [
        "task type 'image.generate' requires input field 'prompt'",
        "'steps.g.output.url' does not exist: task type 'image.generate' outputs image_url",
      ],
    );
  });

  it('reports several problems at once', () => {
    const result = validate({ name: '', steps: [{ id: 'a', type: 'nope' }, step('a')], extra: true });
    const paths = result.errors.map((error) => error.path).sort();
    assert.deepEqual(paths, ['/extra', '/name', '/steps/0/type', '/steps/1/id']);
  });

  it(`limits a definition to ${MAX_STEPS} steps and plans long chains without recursion`, () => {
    const chain = Array.from({ length: MAX_STEPS }, (_, index) =>
      step(`s${index}`, index > 0 ? { depends_on: [`s${index - 1}`] } : {}),
    );
    const result = validate({ name: 'chain', steps: chain });
    assert.equal(result.valid, true);
    assert.equal(result.plan?.layers.length, MAX_STEPS);
    assert.match(errorAt({ name: 'x', steps: [...chain, step('one_more')] }, '/steps'), /must NOT have more than/);
  });

  it('warns about a step timeout above the workflow timeout', () => {
    const result = validate({ name: 'x', timeout_seconds: 10, steps: [step('a', { timeout_seconds: 20 })] });
    assert.deepEqual(result.warnings, [
      { path: '/steps/0/timeout_seconds', message: 'exceeds the workflow timeout_seconds' },
    ]);
  });

  it('compiles a literal transform expression, in a fallback too, and leaves a templated one to run time', () => {
    const transform = (input: unknown, extra: Record<string, unknown> = {}) => ({
      name: 'x',
      steps: [step('src'), { id: 't', type: 'transform', input, ...extra }],
    });
    assert.match(
      errorAt(transform({ expression: 'a +' }), '/steps/1/input/expression'),
      /^expression syntax error at character \d+: JSONata: /,
    );
    const fallback = transform({ expression: '$' }, { fallback: { type: 'transform', input: { expression: '[1,' } } });
    assert.match(errorAt(fallback, '/steps/1/fallback/input/expression'), /syntax error/);
    assert.equal(validate(transform({ expression: '{{ steps.src.output.expr }}' })).valid, true);
  });

  it('warns only of transform fields that a literal data cannot have', () => {
    const warningsOf = (input: unknown, extra: Record<string, unknown> = {}) =>
      validate({ name: 'x', steps: [step('src'), { id: 't', type: 'transform', input, ...extra }] }).warnings.map(
        (warning) => `${warning.path} ${warning.message.split(' is not')[0]}`,
      );
    const at = '/steps/1/input/expression';
    assert.deepEqual(warningsOf({ expression: 'data * 2', data: 21 }), [`${at} 'data'`]);
    assert.deepEqual(warningsOf({ expression: 'a + $.b + $$.c + $sum(d) + (e ? f : -g)', data: { a: 1 } }), [
      `${at} 'b'`,
      `${at} 'c'`,
      `${at} 'd'`,
      `${at} 'e'`,
      `${at} 'f'`,
      `${at} 'g'`,
    ]);
    assert.deepEqual(warningsOf({ expression: 'x', data: [{ y: 1 }, [{ z: 2 }]] }), [`${at} 'x'`]);
    assert.deepEqual(warningsOf({ expression: 'name' }), [`${at} 'name'`], 'no data is null');
    const quiet = [
      { expression: '$ * 2', data: 21 },
      { expression: 'items[price > 2].name', data: { items: [] } },
      { expression: 'items.(price * qty)', data: { items: [] } },
      { expression: '$map(xs, function($v) { $v + y })', data: { xs: [1] } },
      { expression: 'x', data: [{ y: 1 }, { x: 2 }] },
      { expression: 'x', data: ['{{ steps.src.output }}'] },
      { expression: 'x', data: { x: '{{ steps.src.output }}' } },
      { expression: 'x', data: '{{ steps.src.output }}' },
      { expression: '{{ steps.src.output.expr }}', data: 21 },
    ];
    for (const input of quiet) assert.deepEqual(warningsOf(input), [], JSON.stringify(input));
    const mapped = { input_mappings: [{ from_step: 'src', from_field: 'x', to_field: 'data.x' }] };
    assert.deepEqual(warningsOf({ expression: 'x', data: {} }, mapped), [], 'data set by a mapping is unknown');
    const fallback = { fallback: { type: 'transform', input: { expression: 'n', data: 1 } } };
    assert.deepEqual(warningsOf({ expression: '$', data: 1 }, fallback), ["/steps/1/fallback/input/expression 'n'"]);
  });
});
