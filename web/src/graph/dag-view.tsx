import {
  Background,
  Controls,
  type Edge,
  getViewportForBounds,
  MarkerType,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { type KeyboardEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { statusLook } from '../ui/status';
import { buildGraph, type DefinitionStepInput, type PlannedStepInput, type StepStateInput } from './build-graph';
import { layoutGraph, type Positions } from './layout';
import { type StepFlowNode, StepNode } from './step-node';

const nodeTypes = { step: StepNode };

/** Above this many steps only what is on screen is rendered (React Flow's virtualisation). */
const VIRTUALIZE_ABOVE = 150;

/** A status tone's colour as the minimap needs it: an SVG fill attribute cannot read CSS variables. */
function toneColor(status: string | undefined): string {
  const tone = statusLook(status ?? 'pending').tone;
  return getComputedStyle(document.documentElement).getPropertyValue(`--status-${tone}`).trim() || '#888';
}

/** Edge colour: the dependency's status once it settled, else the border colour. */
function edgeColor(status: string | undefined): string {
  return status ? `var(--status-${statusLook(status).tone})` : 'var(--edge)';
}

function Graph(props: {
  plan: readonly PlannedStepInput[];
  steps: readonly DefinitionStepInput[];
  states?: readonly StepStateInput[];
  selected: string | null;
  onSelect?: (stepId: string | null) => void;
  onLaidOut?: (ms: number) => void;
}) {
  const { plan, steps, states, selected, onSelect, onLaidOut } = props;
  const [positions, setPositions] = useState<Positions | null>(null);
  const [layoutError, setLayoutError] = useState<string | null>(null);
  const flow = useReactFlow();
  // The layout depends on the structure only: statuses change the nodes' data, not their places.
  const structureKey = useMemo(() => plan.map((step) => `${step.id}<${step.dependencies.join(',')}`).join(';'), [plan]);
  const graph = useMemo(() => buildGraph(plan, steps, states, selected), [plan, steps, states, selected]);
  const graphRef = useRef(graph);
  const frame = useRef<HTMLDivElement | null>(null);
  graphRef.current = graph;

  // biome-ignore lint/correctness/useExhaustiveDependencies: laid out again only when the structure changes.
  useEffect(() => {
    let cancelled = false;
    const started = performance.now();
    setLayoutError(null);
    layoutGraph(graphRef.current.nodes, graphRef.current.edges)
      .then((placed) => {
        if (cancelled) return;
        // Fit before the nodes arrive, so they are drawn once, at the zoom they are shown at.
        const element = frame.current?.closest('.graph-frame');
        if (element) {
          const sizes = new Map(graphRef.current.nodes.map((node) => [node.id, node]));
          const boxes = [...placed].map(([id, position]) => ({
            ...position,
            ...(sizes.get(id) ?? { width: 0, height: 0 }),
          }));
          const x = Math.min(...boxes.map((box) => box.x));
          const y = Math.min(...boxes.map((box) => box.y));
          const bounds = {
            x,
            y,
            width: Math.max(...boxes.map((box) => box.x + box.width)) - x,
            height: Math.max(...boxes.map((box) => box.y + box.height)) - y,
          };
          const { width, height } = element.getBoundingClientRect();
          flow.setViewport(getViewportForBounds(bounds, width, height, 0.005, 1.1, 0.12));
        }
        setPositions(placed);
        onLaidOut?.(performance.now() - started);
      })
      .catch((error: unknown) => !cancelled && setLayoutError(String(error)));
    return () => {
      cancelled = true;
    };
  }, [structureKey]);

  // Fit again whenever the frame changes size (the step panel opens or closes).
  useEffect(() => {
    const element = frame.current?.closest('.graph-frame');
    if (!positions || !element) return;
    let pending = 0;
    const fit = () => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => flow.fitView({ padding: 0.12, maxZoom: 1.1, minZoom: 0.005 }));
    };
    const observer = new ResizeObserver(fit);
    observer.observe(element);
    return () => {
      observer.disconnect();
      cancelAnimationFrame(pending);
    };
  }, [positions, flow]);

  const nodes: StepFlowNode[] = useMemo(
    () =>
      positions
        ? graph.nodes.map((node) => ({
            id: node.id,
            type: 'step' as const,
            position: positions.get(node.id) ?? { x: 0, y: 0 },
            data: node.data,
            width: node.width,
            height: node.height,
            draggable: false,
            connectable: false,
            selectable: true,
          }))
        : [],
    [graph, positions],
  );
  const edges: Edge[] = useMemo(
    () =>
      graph.edges.map((edge) => {
        const color = edgeColor(edge.sourceStatus);
        // Hundreds of edges drawn at full weight hide the nodes they join.
        const crowded = graph.edges.length > 300;
        return {
          id: edge.id,
          source: edge.source,
          target: edge.target,
          type: 'default',
          animated: edge.sourceRunning,
          label: edge.label ?? undefined,
          style: { stroke: color, strokeWidth: crowded ? 1 : 1.6, opacity: crowded ? 0.45 : 1 },
          ...(crowded ? {} : { markerEnd: { type: MarkerType.ArrowClosed, color, width: 16, height: 16 } }),
          focusable: false,
        };
      }),
    [graph],
  );

  if (layoutError) return <div className="banner">Could not lay out the graph: {layoutError}</div>;
  return (
    <>
      <div ref={frame} hidden />
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodeClick={(_event, node) => onSelect?.(node.id)}
        onPaneClick={() => onSelect?.(null)}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable
        onlyRenderVisibleElements={plan.length > VIRTUALIZE_ABOVE}
        minZoom={0.005}
        maxZoom={2}
        proOptions={{ hideAttribution: true }}
        data-laid-out={positions ? 'true' : 'false'}
      >
        <Background gap={18} size={1} />
        <Controls showInteractive={false} />
        {plan.length > 12 ? (
          <MiniMap pannable zoomable nodeColor={(node) => toneColor((node.data as { status?: string }).status)} />
        ) : null}
      </ReactFlow>
    </>
  );
}

/**
 * The DAG of a definition (SPEC §7): ELK places the steps, React Flow draws them with pan, zoom,
 * fit-to-view and a minimap; with `states` every node is coloured by its live status.
 */
export function DagView(props: Parameters<typeof Graph>[0] & { className?: string }) {
  // How long the last layout took (ELK in its worker, plus folding), for tests and the bench.
  const [layoutMs, setLayoutMs] = useState<number | null>(null);
  const { onLaidOut } = props;
  const laidOut = useCallback(
    (ms: number) => {
      setLayoutMs(Math.round(ms));
      onLaidOut?.(ms);
    },
    [onLaidOut],
  );
  const { onSelect } = props;
  // Nodes are focusable (Tab moves through them); Enter or Space opens the focused one, as a click does.
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    const node = (event.target as HTMLElement).closest('.react-flow__node');
    const id = node?.getAttribute('data-id');
    if (!id || !onSelect) return;
    event.preventDefault();
    onSelect(id);
  };
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: keys reach here from the focusable nodes inside.
    <div
      className={`graph-frame ${props.className ?? ''}`}
      data-view="graph"
      data-layout-ms={layoutMs ?? undefined}
      onKeyDown={onKeyDown}
    >
      <ReactFlowProvider>
        <Graph {...props} onLaidOut={laidOut} />
      </ReactFlowProvider>
    </div>
  );
}
