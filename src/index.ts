/**
 * The public surface of the `weft` package: what plugin modules and embedders import.
 * The HTTP API is the main interface; see README.md.
 */
export { loadConfig, type WeftConfig } from './config.js';
export type { StepDefinition, WorkflowDefinition } from './definition/definition-schema.js';
export { type ExecutionPlan, planExecution } from './definition/plan.js';
export { type DefinitionValidation, validateDefinition } from './definition/validate-definition.js';
export { ERROR_REGISTRY, type ErrorCode, type FieldError, WeftError } from './errors.js';
export {
  type ClientOptions,
  createClient,
  createWorker,
  defineWorker,
  type Execution,
  type Task,
  TaskAbortedError,
  type TaskType,
  WeftApiError,
  WeftClient,
  WeftWorker,
  type WorkerHandler,
  type WorkerHandlerDefinition,
  type WorkerHandlers,
  type WorkerOptions,
  type WorkerTaskContext,
  type Workflow,
} from './sdk/index.js';
export { NonRetryableError, RetryableError, type StepError, WaitUntil } from './tasks/task-outcomes.js';
export {
  defineTask,
  type JsonSchema,
  type TaskContext,
  type TaskHandler,
  type TaskTypeDescriptor,
} from './tasks/task-type.js';
