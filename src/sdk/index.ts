/**
 * The Weft SDK (`weft/sdk`): a typed client of the HTTP API and an external task worker.
 * See docs/sdk.md.
 */
export { NonRetryableError } from '../tasks/task-outcomes.js';
export type { ApiFieldError, ApiProblem } from './api-error.js';
export { WeftApiError } from './api-error.js';
export type { paths as ApiRoutes } from './api-types/index.js';
export {
  type ArtifactData,
  type ArtifactDownload,
  ArtifactsApi,
  type ByteRange,
  type GetArtifactOptions,
  type PutArtifactOptions,
} from './artifacts-client.js';
export { type CallOptions, type ClientOptions, createClient, type RawClient, WeftClient } from './client.js';
export {
  type ExecutionStream,
  openExecutionStream,
  type StreamClose,
  type StreamMessage,
} from './execution-stream.js';
export { ExecutionFailedError, ExecutionWaitTimeoutError, type WaitOptions } from './execution-waits.js';
export type * from './types.js';
export { createWorker, type StopOptions, WeftWorker, type WorkerOptions } from './worker.js';
export {
  defineWorker,
  TaskAbortedError,
  type TaskAbortReason,
  type WorkerHandler,
  type WorkerHandlerDefinition,
  type WorkerHandlers,
  type WorkerTaskContext,
} from './worker-handlers.js';
export type { WorkerLogger } from './worker-logger.js';
