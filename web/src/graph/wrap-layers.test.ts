import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rowsFor, wrapWideLayers } from './wrap-layers';

let order = 0;
const node = (id: string, x: number, y: number) => ({ id, order: order++, x, y, width: 196, height: 58 });

describe('wrapWideLayers', () => {
  it('leaves a graph without a wide layer exactly as ELK placed it', () => {
    const nodes = [node('a', 0, 100), node('b', 260, 40), node('c', 260, 160), node('d', 520, 100)];
    const placed = wrapWideLayers(nodes);
    for (const each of nodes) assert.deepEqual(placed.get(each.id), { x: each.x, y: each.y });
  });

  it('folds a fan-out of 500 into sub-columns, in order, without overlaps, and moves later layers right', () => {
    const width = 500;
    const nodes = [
      node('root', 0, (width * 80) / 2),
      // ELK's order within the layer (y) is not the definition's: the fold follows the definition.
      ...Array.from({ length: width }, (_, index) => node(`child_${index}`, 260, ((index * 7) % width) * 80)),
      node('join', 520, (width * 80) / 2),
    ];
    const placed = wrapWideLayers(nodes);
    const rows = rowsFor(width);
    const children = Array.from({ length: width }, (_, index) => placed.get(`child_${index}`));
    // Column-major order: the first `rows` children share the first sub-column, top to bottom.
    assert.ok(children.slice(0, rows).every((position) => position?.x === 260));
    for (let index = 1; index < rows; index++) assert.ok((children[index]?.y ?? 0) > (children[index - 1]?.y ?? 0));
    // No two nodes overlap.
    const boxes = [...placed.entries()].map(([id, position]) => ({ id, ...position }));
    const keys = new Set(boxes.map((box) => `${Math.round(box.x)}:${Math.round(box.y)}`));
    assert.equal(keys.size, boxes.length);
    // The join is right of every child; the whole is far shorter than the 40,000 px column.
    const rightmostChild = Math.max(...children.map((position) => position?.x ?? 0));
    assert.ok((placed.get('join')?.x ?? 0) > rightmostChild + 196);
    const height = Math.max(...boxes.map((box) => box.y)) - Math.min(...boxes.map((box) => box.y));
    assert.ok(height < 3000, `height ${height}`);
    // Root and join sit in the middle of the folded block.
    const middle = (Math.max(...children.map((p) => p?.y ?? 0)) + 58) / 2;
    assert.ok(Math.abs((placed.get('root')?.y ?? 0) + 29 - middle) < 80);
  });
});
