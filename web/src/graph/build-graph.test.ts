import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildGraph, FOR_EACH_NODE_HEIGHT, itemSummary, NODE_HEIGHT, WAITING_NODE_HEIGHT } from './build-graph';

const plan = [
  { id: 'fetch', type: 'http', dependencies: [], layer: 0 },
  { id: 'tag', type: 'noop', dependencies: ['fetch'], layer: 1 },
  { id: 'child', type: 'workflow', dependencies: ['fetch'], layer: 1 },
  { id: 'join', type: 'noop', dependencies: ['tag', 'child'], layer: 2 },
];
const steps = [
  { id: 'fetch', type: 'http' },
  { id: 'tag', type: 'noop', for_each: '{{ steps.fetch.output.body }}' },
  { id: 'child', type: 'workflow', fallback: { type: 'noop' } },
  { id: 'join', type: 'noop', run_if: 'all_done', when: '{{ true }}' },
];

describe('buildGraph', () => {
  it('makes one node per planned step and one edge per dependency, from the dependency to the step', () => {
    const graph = buildGraph(plan, steps);
    assert.deepEqual(
      graph.nodes.map((node) => node.id),
      plan.map((step) => step.id),
    );
    const expected = plan.flatMap((step) => step.dependencies.map((dependency) => `${dependency}->${step.id}`));
    assert.deepEqual(
      graph.edges.map((edge) => edge.id),
      expected,
    );
    for (const edge of graph.edges) assert.equal(edge.id, `${edge.source}->${edge.target}`);
  });

  it('sizes nodes by what they show: items for for_each, a third line for workflow and signal steps', () => {
    const heights = Object.fromEntries(buildGraph(plan, steps).nodes.map((node) => [node.id, node.height]));
    assert.deepEqual(heights, {
      fetch: NODE_HEIGHT,
      tag: FOR_EACH_NODE_HEIGHT,
      child: WAITING_NODE_HEIGHT,
      join: NODE_HEIGHT,
    });
  });

  it('labels edges into a step whose run_if is not the default, and marks conditions and fallbacks', () => {
    const graph = buildGraph(plan, steps);
    assert.deepEqual(
      graph.edges.filter((edge) => edge.label).map((edge) => [edge.id, edge.label]),
      [
        ['tag->join', 'all_done'],
        ['child->join', 'all_done'],
      ],
    );
    const join = graph.nodes.find((node) => node.id === 'join');
    assert.equal(join?.data.conditional, true);
    assert.equal(graph.nodes.find((node) => node.id === 'child')?.data.fallbackType, 'noop');
    assert.equal(graph.nodes.find((node) => node.id === 'tag')?.data.forEachSource, '{{ steps.fetch.output.body }}');
  });

  it('carries live states onto nodes and colours only edges whose dependency settled', () => {
    const graph = buildGraph(
      plan,
      steps,
      [
        { step_id: 'fetch', status: 'completed', attempts: 2 },
        {
          step_id: 'tag',
          status: 'running',
          attempts: 1,
          items: { total: 4, pending: 1, running: 2, completed: 1, failed: 0, cancelled: 0 },
        },
        { step_id: 'child', status: 'waiting', attempts: 1, child_execution_id: 'ex_1' },
      ],
      'tag',
    );
    const byId = Object.fromEntries(graph.nodes.map((node) => [node.id, node.data]));
    assert.equal(byId.fetch?.status, 'completed');
    assert.equal(byId.fetch?.attempts, 2);
    assert.equal(byId.tag?.selected, true);
    assert.equal(byId.tag?.items?.total, 4);
    assert.equal(byId.child?.childExecutionId, 'ex_1');
    assert.equal(byId.join?.status, undefined, 'a step without a state has none');
    const edges = Object.fromEntries(graph.edges.map((edge) => [edge.id, edge]));
    assert.equal(edges['fetch->tag']?.sourceStatus, 'completed');
    assert.equal(edges['tag->join']?.sourceStatus, undefined, 'a running dependency has not settled');
    assert.equal(edges['tag->join']?.sourceRunning, true);
    assert.equal(edges['child->join']?.sourceRunning, false);
  });
});

describe('itemSummary', () => {
  it('counts settled items as done and names failures and running ones', () => {
    assert.equal(
      itemSummary({ total: 100, pending: 60, running: 10, completed: 25, failed: 3, cancelled: 2 }),
      '30/100 done · 3 failed · 10 running · 2 cancelled',
    );
    assert.equal(itemSummary({ total: 0, pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 }), '0/0 done');
  });
});
