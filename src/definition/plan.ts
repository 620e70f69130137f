import type { WorkflowDefinition } from './definition-schema.js';
import { analyzeSteps } from './step-analysis.js';

/**
 * The execution plan: a pure function of a definition that the engine and the UI share. Steps are
 * grouped into topological layers: a step's layer is one more than the deepest of its
 * dependencies, so every step of a layer can run once the layers before it are settled.
 */

/** One step of a plan. */
export interface PlannedStep {
  id: string;
  type: string;
  /** Every dependency, explicit and implicit. */
  dependencies: string[];
  /** Steps that depend on this one. */
  dependents: string[];
  /** Topological layer, 0 for roots. */
  layer: number;
}

/** The plan of a definition. */
export interface ExecutionPlan {
  steps: PlannedStep[];
  layers: string[][];
}

/**
 * Finds dependency cycles. Returns each as the list of ids along it with the first id repeated at
 * the end (`['a', 'b', 'c', 'a']`). Each step takes part in at most one reported cycle.
 */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[][] = [];
  const inReportedCycle = new Set<string>();
  const stack: string[] = [];

  // Iterative DFS: definitions may hold thousands of steps in a chain.
  for (const start of graph.keys()) {
    if (state.has(start)) continue;
    const iterators: Array<Iterator<string>> = [];
    state.set(start, 'visiting');
    stack.push(start);
    iterators.push((graph.get(start) ?? [])[Symbol.iterator]());
    while (iterators.length > 0) {
      const next = iterators[iterators.length - 1]?.next();
      if (!next || next.done) {
        iterators.pop();
        const finished = stack.pop();
        if (finished !== undefined) state.set(finished, 'done');
        continue;
      }
      const target = next.value;
      if (!graph.has(target)) continue;
      const targetState = state.get(target);
      if (targetState === 'visiting') {
        const cycle = stack.slice(stack.indexOf(target));
        if (!cycle.some((id) => inReportedCycle.has(id))) {
          for (const id of cycle) inReportedCycle.add(id);
          cycles.push([...cycle, target]);
        }
      } else if (targetState === undefined) {
        state.set(target, 'visiting');
        stack.push(target);
        iterators.push((graph.get(target) ?? [])[Symbol.iterator]());
      }
    }
  }
  return cycles;
}

/** Builds the plan of a valid definition; throws when the definition has a cycle. */
export function planExecution(definition: WorkflowDefinition): ExecutionPlan {
  const analyses = analyzeSteps(definition.steps, definition.sequential === true);
  const dependencies = new Map<string, string[]>();
  definition.steps.forEach((step, index) => {
    dependencies.set(step.id, analyses[index]?.dependencies ?? []);
  });
  const cycles = findCycles(dependencies);
  if (cycles.length > 0) throw new Error(`definition has a cycle: ${cycles[0]?.join(' -> ')}`);

  const dependents = new Map<string, string[]>(definition.steps.map((step) => [step.id, []]));
  for (const [id, deps] of dependencies) for (const dep of deps) dependents.get(dep)?.push(id);

  const layerOf = new Map<string, number>();
  const remaining = new Map<string, number>();
  for (const [id, deps] of dependencies) remaining.set(id, deps.length);
  let frontier = definition.steps.filter((step) => (remaining.get(step.id) ?? 0) === 0).map((step) => step.id);
  const layers: string[][] = [];
  while (frontier.length > 0) {
    const layer = layers.length;
    layers.push(frontier);
    const nextFrontier: string[] = [];
    for (const id of frontier) {
      layerOf.set(id, layer);
      for (const dependent of dependents.get(id) ?? []) {
        const left = (remaining.get(dependent) ?? 0) - 1;
        remaining.set(dependent, left);
        if (left === 0) nextFrontier.push(dependent);
      }
    }
    frontier = nextFrontier;
  }

  return {
    layers,
    steps: definition.steps.map((step) => ({
      id: step.id,
      type: step.type,
      dependencies: dependencies.get(step.id) ?? [],
      dependents: dependents.get(step.id) ?? [],
      layer: layerOf.get(step.id) ?? 0,
    })),
  };
}
