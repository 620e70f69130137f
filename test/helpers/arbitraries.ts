import fc from 'fast-check';
import { starterTemplates } from '../../src/definition/starter-templates.js';

/**
 * fast-check generators of workflow definitions: valid DAGs, and definitions mutated from valid
 * ones (starter templates and generated DAGs) to probe every validation path.
 */

const stepIdArb = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,8}$/);

/** Valid definitions of noop steps forming a DAG (edges only point to earlier steps). */
export const validDagArb = fc
  .uniqueArray(stepIdArb, { minLength: 1, maxLength: 12, selector: (id) => id })
  .chain((ids) =>
    fc.tuple(
      fc.constant(ids),
      fc.array(fc.subarray([...ids.keys()]), { minLength: ids.length, maxLength: ids.length }),
      fc.boolean(),
    ),
  )
  .map(([ids, choices, sequential]) => ({
    name: 'generated',
    sequential,
    steps: ids.map((id, index) => {
      const deps = (choices[index] ?? [])
        .filter((candidate) => candidate < index)
        .map((candidate) => ids[candidate] as string);
      const useTemplate = deps.length > 0 && index % 2 === 0;
      return useTemplate
        ? { id, type: 'noop', input: { from: `{{ steps.\`${deps[0]}\`.output }}` }, depends_on: deps.slice(1) }
        : { id, type: 'noop', depends_on: deps };
    }),
  }));

const nastyStrings = fc.constantFrom(
  '{{',
  '}}',
  '{{ }}',
  '{{ steps. }}',
  '{{ steps.nope.output }}',
  '{{ $$ }}',
  '{{ input.a + }}',
  '{{ "unterminated }}',
  '\u0000',
  '💥',
  '../../etc/passwd',
  'a'.repeat(300),
  '*/5 * * * *',
  '99 99 99 99 99',
);

const anyValueArb = fc.oneof(fc.jsonValue({ maxDepth: 3 }), nastyStrings);

type Json = Record<string, unknown>;

/** Applies one mutation at a random place of a JSON document. */
function mutate(document: unknown, path: number[], value: unknown, operation: number): unknown {
  const copy = structuredClone(document) as unknown;
  let target: unknown = copy;
  for (const choice of path) {
    if (target === null || typeof target !== 'object') break;
    const keys = Object.keys(target as Json);
    if (keys.length === 0) break;
    const next = (target as Json)[keys[choice % keys.length] as string];
    if (next === null || typeof next !== 'object') break;
    target = next;
  }
  if (target === null || typeof target !== 'object') return value;
  const record = target as Json;
  const keys = Object.keys(record);
  const key = keys.length > 0 ? (keys[operation % keys.length] as string) : 'added';
  if (operation % 3 === 0) delete record[key];
  else if (operation % 3 === 1) record[key] = value;
  else record[`x_${operation}`] = value;
  return copy;
}

/** Definitions derived from valid ones by a few random mutations. */
export const mutatedDefinitionArb = fc
  .tuple(
    fc.oneof(fc.constantFrom(...starterTemplates().map((template) => template.definition)), validDagArb),
    fc.array(fc.tuple(fc.array(fc.nat(20), { maxLength: 5 }), anyValueArb, fc.nat(100)), {
      minLength: 1,
      maxLength: 4,
    }),
  )
  .map(([base, mutations]) =>
    mutations.reduce((document, [path, value, op]) => mutate(document, path, value, op), base as unknown),
  );
