import { WeftError } from '../errors.js';
import { NonRetryableError } from '../tasks/task-outcomes.js';
import type { StoredArtifact, TaskArtifacts } from '../tasks/task-type.js';
import type { Artifacts } from './artifacts.js';

/**
 * `context.artifacts` of an in-process handler: puts artifacts of the attempt's execution,
 * attributed to its step. A refusal that a retry cannot change (a bad name, a file over
 * `WEFT_ARTIFACT_MAX_BYTES`) fails the attempt without retry.
 */

function chunksOf(data: Uint8Array | string | AsyncIterable<Uint8Array | string>): AsyncIterable<Uint8Array | string> {
  if (typeof data === 'string' || data instanceof Uint8Array) {
    return (async function* () {
      yield data;
    })();
  }
  return data;
}

/** The artifacts of one attempt's execution; without an artifact service every put fails, saying why. */
export function taskArtifacts(
  artifacts: Artifacts | undefined,
  attempt: { workspace_id: string; execution_id: string; step_id: string },
): TaskArtifacts {
  return {
    async put(name, data, contentType): Promise<StoredArtifact> {
      if (!artifacts) throw new NonRetryableError('this process stores no artifacts (it was started without a folder)');
      try {
        const view = await artifacts.put(
          { workspaceId: attempt.workspace_id, executionId: attempt.execution_id, stepId: attempt.step_id },
          name,
          contentType,
          chunksOf(data),
        );
        return { name: view.name, size: view.size, content_type: view.content_type, sha256: view.sha256 };
      } catch (error) {
        if (error instanceof WeftError && (error.status === 400 || error.status === 413)) {
          throw new NonRetryableError(error.message, {
            cause: error,
            code: error.status === 413 ? 'SIZE_LIMIT' : undefined,
          });
        }
        throw error;
      }
    },
  };
}
