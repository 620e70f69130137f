/**
 * Wide layers folded into columns. ELK's layered layout puts every step of one dependency depth in
 * one column, so a fan-out of 500 is a column 40,000 px tall that no zoom level shows readably.
 * A layer with more nodes than its row budget is folded into side-by-side sub-columns, in
 * definition order, later layers move right by the added width, and every
 * layer is re-centred on the new height. Graphs without a wide layer are left exactly as ELK placed
 * them. Pure: unit-tested in wrap-layers.test.ts.
 */

/** A placed node: top-left position and size. */
export interface PlacedNode {
  id: string;
  /** The node's place in the definition: a folded layer lists its nodes in this order. */
  order: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Gaps between folded sub-columns and rows. */
const COLUMN_GAP = 40;
const ROW_GAP = 16;

/** The rows a layer of `count` nodes keeps before it folds: about square, at least 24. */
export function rowsFor(count: number): number {
  return Math.max(24, Math.ceil(Math.sqrt(count) * 1.25));
}

/** Folds layers taller than their row budget; returns new positions by id. */
export function wrapWideLayers(nodes: readonly PlacedNode[]): Map<string, { x: number; y: number }> {
  const positions = new Map(nodes.map((node) => [node.id, { x: node.x, y: node.y }]));
  // Layers: nodes sharing a left edge (ELK aligns a layer's nodes on x when their widths match).
  const layers = new Map<number, PlacedNode[]>();
  for (const node of nodes) {
    const key = Math.round(node.x);
    const layer = layers.get(key) ?? [];
    layer.push(node);
    layers.set(key, layer);
  }
  const ordered = [...layers.entries()].sort((a, b) => a[0] - b[0]).map(([, layer]) => layer.sort((a, b) => a.y - b.y));
  if (!ordered.some((layer) => layer.length > rowsFor(layer.length))) return positions;

  const bottom = (layer: PlacedNode[]) => Math.max(...layer.map((node) => node.y + node.height));
  const top = (layer: PlacedNode[]) => Math.min(...layer.map((node) => node.y));
  const oldHeight = Math.max(...ordered.map(bottom)) - Math.min(...ordered.map(top));
  const oldTop = Math.min(...ordered.map(top));

  // Fold the wide layers and shift everything after them right.
  let shift = 0;
  const blocks: Array<{ layer: PlacedNode[]; height: number; folded: boolean }> = [];
  for (const layer of ordered) {
    const rows = rowsFor(layer.length);
    if (layer.length <= rows) {
      for (const node of layer) {
        const position = positions.get(node.id);
        if (position) position.x = node.x + shift;
      }
      blocks.push({ layer, height: bottom(layer) - top(layer), folded: false });
      continue;
    }
    layer.sort((a, b) => a.order - b.order);
    const cellWidth = Math.max(...layer.map((node) => node.width)) + COLUMN_GAP;
    const cellHeight = Math.max(...layer.map((node) => node.height)) + ROW_GAP;
    const left = layer[0]?.x ?? 0;
    layer.forEach((node, index) => {
      const position = positions.get(node.id);
      if (!position) return;
      position.x = left + shift + Math.floor(index / rows) * cellWidth;
      position.y = (index % rows) * cellHeight;
    });
    const columns = Math.ceil(layer.length / rows);
    shift += (columns - 1) * cellWidth;
    blocks.push({ layer, height: rows * cellHeight - ROW_GAP, folded: true });
  }

  // Centre every layer on the new height, keeping each unfolded layer's shape and relative place.
  const newHeight = Math.max(...blocks.map((block) => block.height));
  for (const block of blocks) {
    if (block.folded) {
      const offset = (newHeight - block.height) / 2;
      for (const node of block.layer) {
        const position = positions.get(node.id);
        if (position) position.y += offset;
      }
      continue;
    }
    const layerTop = top(block.layer);
    const centre = (layerTop + block.height / 2 - oldTop) / Math.max(1, oldHeight);
    const newTop = centre * newHeight - block.height / 2;
    for (const node of block.layer) {
      const position = positions.get(node.id);
      if (position) position.y = newTop + (node.y - layerTop);
    }
  }
  return positions;
}
