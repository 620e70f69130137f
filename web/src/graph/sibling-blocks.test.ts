import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collapseSiblings } from './sibling-blocks';
import { rowsFor } from './wrap-layers';

const node = (id: string, height = 58) => ({ id, width: 196, height });
const edge = (source: string, target: string) => ({ id: `${source}->${target}`, source, target });

describe('collapseSiblings', () => {
  it('gives ELK one block for a fan-out of 500 and fills it with the steps in order, without overlaps', () => {
    const children = Array.from({ length: 500 }, (_, index) => node(`child_${index}`));
    const nodes = [node('root'), ...children, node('join')];
    const edges = children.flatMap((child) => [edge('root', child.id), edge(child.id, 'join')]);
    const collapsed = collapseSiblings(nodes, edges);
    assert.deepEqual(
      collapsed.nodes.map((each) => each.id),
      ['root', 'block:child_0', 'join'],
    );
    assert.deepEqual(
      collapsed.edges.map((each) => each.id),
      ['root->block:child_0', 'block:child_0->join'],
    );
    const block = collapsed.nodes[1];
    const rows = rowsFor(500);
    assert.equal(block?.height, rows * 74 - 16);
    assert.equal(block?.width, Math.ceil(500 / rows) * 236 - 40);

    const placed = collapsed.expand(
      new Map([
        ['root', { x: 0, y: 900 }],
        ['block:child_0', { x: 300, y: 0 }],
        ['join', { x: 5000, y: 900 }],
      ]),
    );
    assert.equal(placed.size, 502);
    assert.ok(!placed.has('block:child_0'));
    assert.deepEqual(placed.get('child_0'), { x: 300, y: 0 });
    assert.deepEqual(placed.get('child_1'), { x: 300, y: 74 });
    assert.deepEqual(placed.get(`child_${rows}`), { x: 536, y: 0 });
    const corners = new Set([...placed.values()].map((position) => `${position.x}:${position.y}`));
    assert.equal(corners.size, 502);
    for (const child of children) {
      const position = placed.get(child.id);
      assert.ok(position && position.x >= 300 && position.x + 196 <= 300 + (block?.width ?? 0));
      assert.ok(position && position.y >= 0 && position.y + 58 <= (block?.height ?? 0));
    }
  });

  it('leaves small groups, unconnected steps and steps with different neighbours to ELK', () => {
    const few = Array.from({ length: 10 }, (_, index) => node(`few_${index}`));
    const loose = Array.from({ length: 30 }, (_, index) => node(`loose_${index}`));
    const mixed = Array.from({ length: 30 }, (_, index) => node(`mixed_${index}`));
    const nodes = [node('a'), node('b'), node('c'), ...few, ...loose, ...mixed];
    const edges = [
      ...few.map((each) => edge('a', each.id)),
      ...mixed.map((each, index) => edge(index % 2 ? 'b' : 'c', each.id)),
    ];
    const collapsed = collapseSiblings(nodes, edges);
    assert.equal(collapsed.nodes.length, nodes.length);
    assert.equal(collapsed.edges.length, edges.length);
  });
});
