/**
 * From a definition's plan to the graph the UI draws: one node per step (a `for_each` step is one
 * node carrying its item counts, a `workflow` step names its child), one edge per dependency.
 * Positions come later from the ELK layout (layout.ts). Pure: unit-tested in build-graph.test.ts.
 */

/** What the graph needs of a planned step (the `plan` of `POST /workflows/validate`). */
export interface PlannedStepInput {
  id: string;
  type: string;
  dependencies: readonly string[];
  layer: number;
}

/** What the graph needs of a step of the definition. */
export interface DefinitionStepInput {
  id: string;
  type: string;
  for_each?: unknown;
  when?: unknown;
  run_if?: string;
  fallback?: { type: string } | null;
}

/** What the graph shows of a step's live state (an execution's `steps`). */
export interface StepStateInput {
  step_id: string;
  status: string;
  attempts: number;
  used_fallback?: boolean;
  child_execution_id?: string | null;
  waiting_for_signal?: string | null;
  items?: { total: number; pending: number; running: number; completed: number; failed: number; cancelled: number };
}

/** The data of one step node. */
export interface StepNodeData extends Record<string, unknown> {
  stepId: string;
  type: string;
  /** Live status; `undefined` on a definition's graph. */
  status: string | undefined;
  attempts: number;
  forEach: boolean;
  /** The `for_each` template (or list) as written, shown on the node before items exist. */
  forEachSource: string | null;
  conditional: boolean;
  runIf: string;
  fallbackType: string | null;
  usedFallback: boolean;
  childExecutionId: string | null;
  waitingForSignal: string | null;
  items: StepStateInput['items'] | null;
  selected: boolean;
}

/** A node before layout. */
export interface GraphNode {
  id: string;
  data: StepNodeData;
  width: number;
  height: number;
}

/** One dependency: from the dependency to the step that waits for it. */
export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  /** The target's `run_if` when it is not the default (`all_done`, `any_success`). */
  label: string | null;
  /** The dependency's status once it settled (the edge takes its colour), else undefined. */
  sourceStatus: string | undefined;
  /** The dependency runs now (the edge is animated). */
  sourceRunning: boolean;
}

/** Node sizes, fixed so that ELK can place them without measuring the DOM. */
export const NODE_WIDTH = 196;
export const NODE_HEIGHT = 58;
/** A `for_each` node is taller: it shows its item counts. */
export const FOR_EACH_NODE_HEIGHT = 84;
/** `workflow` and `wait_for_signal` nodes have a third line: the child, or the signal awaited. */
export const WAITING_NODE_HEIGHT = 74;

/** Types whose steps wait without a worker and say what for on a line of their own. */
const WAITING_TYPES = new Set(['workflow', 'wait_for_signal']);

const SETTLED = new Set(['completed', 'failed', 'skipped', 'cancelled']);
const settledStatus = (status: string | undefined) => (status && SETTLED.has(status) ? status : undefined);

/** Builds the nodes and edges of a definition, with live step states when given. */
export function buildGraph(
  plan: readonly PlannedStepInput[],
  steps: readonly DefinitionStepInput[],
  states: readonly StepStateInput[] = [],
  selectedStepId: string | null = null,
): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const definitionById = new Map(steps.map((step) => [step.id, step]));
  const stateById = new Map(states.map((state) => [state.step_id, state]));
  const nodes: GraphNode[] = plan.map((planned) => {
    const step = definitionById.get(planned.id);
    const state = stateById.get(planned.id);
    const forEach = step?.for_each !== undefined && step.for_each !== null;
    return {
      id: planned.id,
      width: NODE_WIDTH,
      height: forEach
        ? FOR_EACH_NODE_HEIGHT
        : WAITING_TYPES.has(step?.type ?? planned.type)
          ? WAITING_NODE_HEIGHT
          : NODE_HEIGHT,
      data: {
        stepId: planned.id,
        type: step?.type ?? planned.type,
        status: state?.status,
        attempts: state?.attempts ?? 0,
        forEach,
        forEachSource: forEach
          ? typeof step?.for_each === 'string'
            ? step.for_each
            : JSON.stringify(step?.for_each)
          : null,
        conditional: step?.when !== undefined,
        runIf: step?.run_if ?? 'all_success',
        fallbackType: step?.fallback?.type ?? null,
        usedFallback: state?.used_fallback === true,
        childExecutionId: state?.child_execution_id ?? null,
        waitingForSignal: state?.waiting_for_signal ?? null,
        items: state?.items ?? null,
        selected: planned.id === selectedStepId,
      },
    };
  });
  const edges: GraphEdge[] = [];
  for (const planned of plan) {
    const runIf = definitionById.get(planned.id)?.run_if;
    for (const dependency of planned.dependencies) {
      edges.push({
        id: `${dependency}->${planned.id}`,
        source: dependency,
        target: planned.id,
        label: runIf && runIf !== 'all_success' ? runIf : null,
        sourceStatus: settledStatus(stateById.get(dependency)?.status),
        sourceRunning: stateById.get(dependency)?.status === 'running',
      });
    }
  }
  return { nodes, edges };
}

/** A short line of a `for_each` step's item counts: `37/100 done · 2 failed · 10 running`. */
export function itemSummary(items: NonNullable<StepStateInput['items']>): string {
  const done = items.completed + items.failed + items.cancelled;
  const parts = [`${done}/${items.total} done`];
  if (items.failed > 0) parts.push(`${items.failed} failed`);
  if (items.running > 0) parts.push(`${items.running} running`);
  if (items.cancelled > 0) parts.push(`${items.cancelled} cancelled`);
  return parts.join(' · ');
}
