import { rowsFor } from './wrap-layers';

/**
 * Parallel siblings laid out as one block. Steps with exactly the same dependencies and the same
 * dependents (the 500 children of a fan-out) are interchangeable for the layout: ELK gets one node
 * of the block's size in their place, so it places 3 nodes instead of 502 (milliseconds instead of
 * seconds), and the block is then filled with its steps in rows and columns, in definition order.
 * Groups smaller than a column (24) are left to ELK. Pure: unit-tested in sibling-blocks.test.ts.
 */

/** What the layout needs of a node and an edge. */
export interface LayoutNode {
  id: string;
  width: number;
  height: number;
}
export interface LayoutEdge {
  id: string;
  source: string;
  target: string;
}

/** Gaps between the steps of a block. */
const COLUMN_GAP = 40;
const ROW_GAP = 16;

/** A block: its stand-in node and its steps in order. */
interface Block {
  node: LayoutNode;
  members: LayoutNode[];
  rows: number;
  cellWidth: number;
  cellHeight: number;
}

/** The graph ELK lays out (blocks in place of their siblings) and how to place the siblings after. */
export function collapseSiblings(
  nodes: readonly LayoutNode[],
  edges: readonly LayoutEdge[],
  minimum = 24,
): {
  nodes: LayoutNode[];
  edges: LayoutEdge[];
  expand: (positions: ReadonlyMap<string, { x: number; y: number }>) => Map<string, { x: number; y: number }>;
} {
  const sources = new Map<string, string[]>();
  const targets = new Map<string, string[]>();
  for (const edge of edges) {
    sources.set(edge.target, [...(sources.get(edge.target) ?? []), edge.source]);
    targets.set(edge.source, [...(targets.get(edge.source) ?? []), edge.target]);
  }
  const signature = (node: LayoutNode) =>
    `${[...(sources.get(node.id) ?? [])].sort().join(',')}|${[...(targets.get(node.id) ?? [])].sort().join(',')}|${node.height}`;
  const groups = new Map<string, LayoutNode[]>();
  for (const node of nodes) {
    const key = signature(node);
    groups.set(key, [...(groups.get(key) ?? []), node]);
  }
  const blockOf = new Map<string, Block>();
  for (const members of groups.values()) {
    // Only siblings with something in common (a dependency or a dependent) form a block.
    const first = members[0];
    if (!first || members.length < minimum || signature(first).startsWith('||')) continue;
    const rows = rowsFor(members.length);
    const columns = Math.ceil(members.length / rows);
    const cellWidth = Math.max(...members.map((member) => member.width)) + COLUMN_GAP;
    const cellHeight = Math.max(...members.map((member) => member.height)) + ROW_GAP;
    const block: Block = {
      node: {
        id: `block:${first.id}`,
        width: columns * cellWidth - COLUMN_GAP,
        height: Math.min(rows, members.length) * cellHeight - ROW_GAP,
      },
      members,
      rows,
      cellWidth,
      cellHeight,
    };
    for (const member of members) blockOf.set(member.id, block);
  }
  if (blockOf.size === 0) return { nodes: [...nodes], edges: [...edges], expand: (positions) => new Map(positions) };

  const standIn = (id: string) => blockOf.get(id)?.node.id ?? id;
  const laidNodes: LayoutNode[] = [];
  const added = new Set<string>();
  for (const node of nodes) {
    const id = standIn(node.id);
    if (added.has(id)) continue;
    added.add(id);
    laidNodes.push(blockOf.get(node.id)?.node ?? node);
  }
  const laidEdges = new Map<string, LayoutEdge>();
  for (const edge of edges) {
    const source = standIn(edge.source);
    const target = standIn(edge.target);
    const id = `${source}->${target}`;
    if (!laidEdges.has(id)) laidEdges.set(id, { id, source, target });
  }
  const blocks = new Set(blockOf.values());
  return {
    nodes: laidNodes,
    edges: [...laidEdges.values()],
    expand: (positions) => {
      const placed = new Map(positions);
      for (const block of blocks) {
        const origin = positions.get(block.node.id) ?? { x: 0, y: 0 };
        placed.delete(block.node.id);
        block.members.forEach((member, index) => {
          placed.set(member.id, {
            x: origin.x + Math.floor(index / block.rows) * block.cellWidth,
            y: origin.y + (index % block.rows) * block.cellHeight,
          });
        });
      }
      return placed;
    },
  };
}
