import path from 'node:path';
import type { Readable } from 'node:stream';
import type { WeftConfig } from '../config.js';
import { notFound, validationFailed, WeftError } from '../errors.js';
import { nowIso } from '../ids.js';
import type { Store } from '../store/store.js';
import { type ArtifactRow, type ArtifactView, artifactView } from './artifact-repository.js';
import {
  type ArtifactStorage,
  type ByteRange,
  FilesystemArtifactStorage,
  ObjectMissingError,
  ObjectTooLargeError,
  type StoredObject,
} from './artifact-storage.js';

/**
 * Artifacts of executions (SPEC §3.1): the one place that writes, reads and deletes them, for the
 * API, the `http` task's `save_as`, in-process handlers and cleanup. Bytes go to the storage first;
 * the row that makes an artifact visible commits after the bytes are durable, and a replaced or
 * deleted artifact's bytes are removed after its row is gone, so a crash leaves at worst an
 * unreferenced file, never a row without its bytes.
 */

/** Artifact names (SPEC §3.1). */
export const ARTIFACT_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
const ARTIFACT_NAME = new RegExp(ARTIFACT_NAME_PATTERN);
/** Content type of a body that declares none. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Which execution (and step) an artifact belongs to. */
export interface ArtifactOwner {
  workspaceId: string;
  executionId: string;
  stepId?: string | null;
}

/** What cleanup removed (SPEC §3.1 `cleanup?delete_artifacts=true`). */
export interface ArtifactCleanup {
  artifacts_deleted: string[];
  bytes_deleted: number;
  errors: Array<{ name: string; message: string }>;
}

/** The 400 of a name outside the pattern, at `path`. */
export function checkArtifactName(name: string, path = 'params/name'): void {
  if (!ARTIFACT_NAME.test(name)) {
    throw validationFailed([
      {
        path,
        message: `'${name.slice(0, 140)}' is not an artifact name: a letter or digit, then up to 127 letters, digits, '.', '_' or '-'`,
      },
    ]);
  }
}

/** The 413 of an artifact over the cap. */
export function artifactTooLarge(maxBytes: number, size?: number): WeftError {
  const what = size === undefined ? 'the artifact is larger than' : `the artifact is ${size} bytes, over`;
  return new WeftError('PAYLOAD_TOO_LARGE', `${what} WEFT_ARTIFACT_MAX_BYTES (${maxBytes} bytes); nothing was stored`);
}

/** The artifacts of `WEFT_ARTIFACTS_DIR` and `WEFT_ARTIFACT_MAX_BYTES`. */
export function artifactsFromConfig(
  store: Store,
  config: Pick<WeftConfig, 'artifactsDir' | 'artifactMaxBytes'>,
): Artifacts {
  return new Artifacts(store, new FilesystemArtifactStorage(config.artifactsDir), config.artifactMaxBytes);
}

export class Artifacts {
  constructor(
    private readonly store: Store,
    private readonly storage: ArtifactStorage,
    /** `WEFT_ARTIFACT_MAX_BYTES`. */
    readonly maxBytes: number,
  ) {}

  /**
   * Stores `body` as the artifact `name` of an execution, replacing one of that name. `declaredSize`
   * (a Content-Length) over the cap is refused before a byte is read. 404 for an execution that is
   * not the workspace's (or was cleaned up), 400 for a bad name or an unknown step.
   */
  async put(
    owner: ArtifactOwner,
    name: string,
    contentType: string | undefined,
    body: AsyncIterable<Uint8Array | string>,
    declaredSize?: number,
  ): Promise<ArtifactView> {
    checkArtifactName(name);
    const execution = await this.store.executions.get(owner.workspaceId, owner.executionId);
    if (!execution) throw notFound('execution', owner.executionId);
    const stepId = owner.stepId ?? null;
    if (stepId !== null && (await this.store.steps.list(execution.id, [stepId])).length === 0) {
      throw validationFailed([{ path: 'query/step_id', message: `the execution has no step '${stepId}'` }]);
    }
    if (declaredSize !== undefined && declaredSize > this.maxBytes) throw artifactTooLarge(this.maxBytes, declaredSize);
    let stored: StoredObject;
    try {
      stored = await this.storage.write(`${owner.workspaceId}/${execution.id}`, name, body, this.maxBytes);
    } catch (error) {
      if (error instanceof ObjectTooLargeError) throw artifactTooLarge(this.maxBytes);
      throw error;
    }
    const row: ArtifactRow = {
      execution_id: execution.id,
      name,
      workspace_id: owner.workspaceId,
      step_id: stepId,
      size: stored.size,
      content_type: contentType?.trim() || DEFAULT_CONTENT_TYPE,
      sha256: stored.sha256,
      storage_key: stored.key,
      created_at: nowIso(),
    };
    let replaced: ArtifactRow | undefined;
    try {
      replaced = await this.store.transaction(async (tx) => {
        // The execution's row lock orders concurrent writes of one execution (and its cleanup).
        const [locked] = await tx.executions.getManyLocked([execution.id]);
        if (!locked || locked.deleted_at !== null) throw notFound('execution', execution.id);
        return tx.artifacts.upsert(row);
      });
    } catch (error) {
      await this.storage.remove(stored.key);
      throw error;
    }
    if (replaced) await this.storage.remove(replaced.storage_key);
    return artifactView(row);
  }

  /** The artifact `name` of an execution of the workspace; 404 when either is missing. */
  async get(workspaceId: string, executionId: string, name: string): Promise<ArtifactRow> {
    checkArtifactName(name);
    const execution = await this.store.executions.get(workspaceId, executionId);
    if (!execution) throw notFound('execution', executionId);
    const row = await this.store.artifacts.get(execution.id, name);
    if (!row) throw notFound('artifact', name);
    return row;
  }

  /** The bytes of an artifact (of `range`); 404 when its file went missing. */
  async open(row: ArtifactRow, range?: ByteRange): Promise<Readable> {
    try {
      return await this.storage.open(row.storage_key, range);
    } catch (error) {
      if (error instanceof ObjectMissingError) {
        throw new WeftError('NOT_FOUND', `the file of artifact '${row.name}' is missing from the artifact storage`);
      }
      throw error;
    }
  }

  /** Deletes an artifact; 404 when there is none. */
  async remove(workspaceId: string, executionId: string, name: string): Promise<void> {
    const row = await this.get(workspaceId, executionId, name);
    const removed = await this.store.transaction(async (tx) => {
      await tx.executions.getManyLocked([row.execution_id]);
      return tx.artifacts.remove(row.execution_id, name);
    });
    if (!removed) throw notFound('artifact', name);
    await this.storage.remove(removed.storage_key);
  }

  /**
   * Deletes every artifact of an execution (cleanup). Each row goes before its file, so a crash
   * part-way leaves the rest listed and whole, and at worst one unreferenced file; once the
   * execution is deleted (the route's second pass), files no row references are removed too, so a
   * repeated cleanup finishes the job. A file that cannot be deleted gets its row back and is
   * reported in `errors`.
   */
  async removeAll(executionId: string): Promise<ArtifactCleanup> {
    const cleanup: ArtifactCleanup = { artifacts_deleted: [], bytes_deleted: 0, errors: [] };
    const failed = (name: string, error: unknown) =>
      cleanup.errors.push({ name, message: error instanceof Error ? error.message : String(error) });
    for (const row of await this.store.artifacts.all(executionId)) {
      try {
        const removed = await this.store.transaction(async (tx) => {
          await tx.executions.getManyLocked([executionId]);
          return tx.artifacts.remove(executionId, row.name);
        });
        if (!removed) continue; // deleted meanwhile, by whoever deleted it
        try {
          await this.storage.remove(removed.storage_key);
        } catch (error) {
          await this.store.artifacts.restore(removed);
          throw error;
        }
        cleanup.artifacts_deleted.push(removed.name);
        cleanup.bytes_deleted += Number(removed.size);
      } catch (error) {
        failed(row.name, error);
      }
    }
    const execution = await this.store.executions.getById(executionId);
    // Before the execution is deleted an upload may have its file stored and its row not yet
    // committed; after, no upload commits (they check under the lock), so unreferenced means orphaned.
    if (execution?.deleted_at) {
      const kept = new Set((await this.store.artifacts.all(executionId)).map((row) => row.storage_key));
      for (const key of await this.storage.list(`${execution.workspace_id}/${executionId}`)) {
        if (!kept.has(key)) await this.storage.remove(key).catch((error: unknown) => failed(path.basename(key), error));
      }
    }
    return cleanup;
  }

  /** Removes unfinished uploads left by a crash (older than an hour: no upload stalls that long). */
  sweepPartials(): Promise<number> {
    return this.storage.sweepPartials(60 * 60 * 1000);
  }
}
