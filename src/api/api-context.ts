import type { WeftConfig } from '../config.js';
import type { Engine } from '../engine/engine.js';
import type { ExternalTasks } from '../engine/external-tasks.js';
import type { ExecutionEnds } from '../events/execution-ends.js';
import type { Store } from '../store/store.js';
import type { TaskTypeRegistry } from '../tasks/registry.js';
import type { WorkerSightings } from '../workers/worker-sightings.js';

/** What route modules need from the server. */
export interface ApiContext {
  store: Store;
  taskTypes: TaskTypeRegistry;
  config: WeftConfig;
  engine: Engine;
  /** The task routes' operations (external workers). */
  tasks: ExternalTasks;
  /** Records the workers that poll, throttled per process (src/workers/). */
  sightings: WorkerSightings;
  /** Waits for executions to end (start and wait). */
  executionEnds: ExecutionEnds;
}
