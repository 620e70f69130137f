import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { validateDefinition } from '../src/definition/validate-definition.js';
import { TaskTypeRegistry } from '../src/tasks/registry.js';
import { mutatedDefinitionArb, validDagArb } from './helpers/arbitraries.js';
import { propertyRuns } from './helpers/property-seed.js';

const types = new TaskTypeRegistry().lookup();

describe('definition parser properties', () => {
  it('never throws, and answers either a plan or errors with JSON Pointer paths', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), mutatedDefinitionArb), (input) => {
        const result = validateDefinition(input, types);
        if (result.valid) {
          assert.ok(result.plan);
          assert.deepEqual(result.errors, []);
        } else {
          assert.ok(result.errors.length > 0);
          for (const error of result.errors) {
            assert.match(error.path, /^(\/.*)?$/);
            assert.ok(error.message.length > 0);
          }
        }
      }),
      propertyRuns(500),
    );
  });

  it('plans every generated DAG so that each step comes after all its dependencies', () => {
    fc.assert(
      fc.property(validDagArb, (definition) => {
        const result = validateDefinition(definition, types);
        assert.deepEqual(result.errors, []);
        const layerOf = new Map(result.plan?.steps.map((step) => [step.id, step.layer]));
        const planned = result.plan?.layers.flat() ?? [];
        assert.equal(planned.length, definition.steps.length);
        for (const step of result.plan?.steps ?? []) {
          for (const dependency of step.dependencies) assert.ok((layerOf.get(dependency) ?? -1) < step.layer);
        }
        definition.steps.forEach((step, index) => {
          const plannedStep = result.plan?.steps[index];
          for (const dependency of step.depends_on) assert.ok(plannedStep?.dependencies.includes(dependency));
          const previous = definition.steps[index - 1];
          if (definition.sequential && previous) assert.ok(plannedStep?.dependencies.includes(previous.id));
        });
      }),
      propertyRuns(300),
    );
  });

  it('reports a cycle whenever an edge points back to a later step', () => {
    fc.assert(
      fc.property(
        validDagArb.filter((definition) => definition.steps.length >= 2),
        (definition) => {
          const steps = definition.steps.map((step) => ({ ...step, depends_on: [...step.depends_on] }));
          const last = steps[steps.length - 1];
          const first = steps[0];
          if (!first || !last) return;
          first.depends_on.push(last.id);
          // Make sure the last step reaches the first one so the added edge closes a cycle.
          last.depends_on.push(first.id);
          const result = validateDefinition({ ...definition, steps }, types);
          assert.equal(result.valid, false);
          assert.ok(result.errors.some((error) => error.message.startsWith('dependency cycle: ')));
        },
      ),
      propertyRuns(200),
    );
  });
});
