import ELK, { type ElkNode } from 'elkjs/lib/elk-api.js';
import elkWorkerUrl from 'elkjs/lib/elk-worker.min.js?url';
import type { GraphEdge, GraphNode } from './build-graph';
import { collapseSiblings } from './sibling-blocks';
import { wrapWideLayers } from './wrap-layers';

/**
 * Places the nodes with ELK's layered algorithm (left to right, one layer per dependency depth),
 * in a web worker so that laying out 500 steps never freezes the page. Edges are drawn by React
 * Flow between the placed nodes; ELK's own edge routes are not used (routing them is most of
 * ELK's time on wide graphs, and curves read as well).
 */

let elk: InstanceType<typeof ELK> | undefined;

/**
 * The ELK worker, started when this module loads (with the first page that draws a graph), so its
 * script loads while that page fetches its data; one worker serves every later layout.
 */
function engine(): InstanceType<typeof ELK> {
  elk ??= new ELK({ workerFactory: () => new Worker(elkWorkerUrl) as never });
  return elk;
}
engine();

/**
 * ELK options: layered, left to right. Measured in Node on a 1 + 500 + 1 fan-out (2-core box, other
 * work running): Brandes–Köpf placement with merged edges, 1.6–3.5 s at the default thoroughness
 * (7) and 0.7–1.1 s at 1; without merged edges the polyline routing spread the layers to 5,600 px;
 * model order (PREFER_NODES) added 3 s and NODES_AND_EDGES 10 s. Small graphs keep the default
 * thoroughness (fewer crossings, a few ms); big ones take 1. Parallel siblings reach ELK as one
 * block (sibling-blocks.ts: the fan-out is 3 nodes for ELK), and other wide layers are folded
 * afterwards in definition order (wrap-layers.ts).
 */
export const LAYOUT_OPTIONS: Record<string, string> = {
  'elk.algorithm': 'layered',
  'elk.direction': 'RIGHT',
  'elk.spacing.nodeNode': '22',
  'elk.layered.spacing.nodeNodeBetweenLayers': '64',
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
  'elk.layered.mergeEdges': 'true',
};

/** Above this many steps ELK sweeps for crossings once instead of seven times. */
const BIG_GRAPH = 150;

/** Top-left positions of the nodes, by id. */
export type Positions = Map<string, { x: number; y: number }>;

/** Lays out a graph; resolves to each node's position. */
export async function layoutGraph(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): Promise<Positions> {
  const collapsed = collapseSiblings(nodes, edges);
  const graph: ElkNode = {
    id: 'root',
    layoutOptions:
      collapsed.nodes.length > BIG_GRAPH ? { ...LAYOUT_OPTIONS, 'elk.layered.thoroughness': '1' } : LAYOUT_OPTIONS,
    children: collapsed.nodes.map((node) => ({ id: node.id, width: node.width, height: node.height })),
    edges: collapsed.edges.map((edge) => ({ id: edge.id, sources: [edge.source], targets: [edge.target] })),
  };
  const placed = await engine().layout(graph);
  const folded = wrapWideLayers(
    (placed.children ?? []).map((child, order) => ({
      id: child.id,
      order,
      x: child.x ?? 0,
      y: child.y ?? 0,
      width: child.width ?? 0,
      height: child.height ?? 0,
    })),
  );
  return collapsed.expand(folded);
}
