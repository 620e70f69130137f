import { createHash, randomBytes } from 'node:crypto';
import { constants, type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

/**
 * Where artifact bytes live. The database holds which artifacts exist (src/artifacts/
 * artifact-repository.ts); the storage holds their bytes under keys it hands out, one per upload,
 * so an upload never overwrites bytes another request may be reading. The filesystem storage is
 * the one built in; the interface is what an object-store implementation would provide.
 */

/** What a finished write stored. */
export interface StoredObject {
  key: string;
  size: number;
  sha256: string;
}

/** A byte range, both ends included (as in HTTP `Range`). */
export interface ByteRange {
  start: number;
  end: number;
}

/** The body was longer than the write allowed; nothing was kept. */
export class ObjectTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the body is larger than ${maxBytes} bytes`);
    this.name = 'ObjectTooLargeError';
  }
}

/** No object under that key (deleted meanwhile, or lost from the folder). */
export class ObjectMissingError extends Error {
  constructor(readonly key: string) {
    super(`no stored object '${key}'`);
    this.name = 'ObjectMissingError';
  }
}

/** Storage of artifact bytes. */
export interface ArtifactStorage {
  /**
   * Streams `body` into a new object under `prefix`, computing its sha256 on the way; refuses it
   * (ObjectTooLargeError) past `maxBytes`. The object exists under its key only once complete and
   * durable; when the write fails, nothing is left behind.
   */
  write(
    prefix: string,
    name: string,
    body: AsyncIterable<Uint8Array | string>,
    maxBytes: number,
  ): Promise<StoredObject>;
  /** A stream of the object's bytes (of `range` when given); ObjectMissingError when absent. */
  open(key: string, range?: ByteRange): Promise<Readable>;
  /** Deletes an object; false when there was none. */
  remove(key: string): Promise<boolean>;
  /** Keys of the finished objects under `prefix` (not unfinished writes), in no set order. */
  list(prefix: string): Promise<string[]>;
  /** Deletes unfinished writes older than `olderThanMs` (left by a crash); returns how many. */
  sweepPartials(olderThanMs: number): Promise<number>;
}

/** Unfinished writes are named so; artifact names cannot start with '.', so they never collide. */
const PARTIAL_PREFIX = '.partial-';
/** A key's name part and upload id are joined by '~', which artifact names cannot contain. */
const UPLOAD_SEPARATOR = '~';

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Artifacts as files under one folder (`WEFT_ARTIFACTS_DIR`): `<prefix>/<name>~<upload id>`, the
 * prefix being `<workspace>/<execution>`. A write goes to `<prefix>/.partial-<upload id>`, is
 * fsynced, then renamed to its key (and the folder fsynced), so a crash mid-upload leaves only a
 * partial file, which `sweepPartials` removes later. Several processes may share the folder.
 */
export class FilesystemArtifactStorage implements ArtifactStorage {
  constructor(readonly root: string) {}

  #pathOf(key: string): string {
    const resolved = path.resolve(this.root, key);
    // Keys are built from ids and validated names; a key that leaves the folder is a bug upstream.
    if (!resolved.startsWith(path.resolve(this.root) + path.sep))
      throw new Error(`artifact key '${key}' leaves the folder`);
    return resolved;
  }

  async write(
    prefix: string,
    name: string,
    body: AsyncIterable<Uint8Array | string>,
    maxBytes: number,
  ): Promise<StoredObject> {
    const uploadId = randomBytes(9).toString('base64url').replaceAll('-', 'x').replaceAll('_', 'y');
    const key = `${prefix}/${name}${UPLOAD_SEPARATOR}${uploadId}`;
    const finalPath = this.#pathOf(key);
    const directory = path.dirname(finalPath);
    const partialPath = path.join(directory, `${PARTIAL_PREFIX}${uploadId}`);
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const hash = createHash('sha256');
    let size = 0;
    let handle: FileHandle | undefined = await open(partialPath, 'wx', 0o600);
    try {
      for await (const chunk of body) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        size += bytes.byteLength;
        if (size > maxBytes) throw new ObjectTooLargeError(maxBytes);
        hash.update(bytes);
        // Awaiting each write is the backpressure: the body is read no faster than the disk takes it.
        await handle.write(bytes);
      }
      await handle.datasync();
      await handle.close();
      handle = undefined;
      await rename(partialPath, finalPath);
      await syncDirectory(directory);
      return { key, size, sha256: hash.digest('hex') };
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await rm(partialPath, { force: true });
      throw error;
    }
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    let handle: FileHandle;
    try {
      handle = await open(this.#pathOf(key), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectMissingError(key);
      throw error;
    }
    // The stream owns the handle and closes it when it ends or is destroyed (client gone).
    return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  async remove(key: string): Promise<boolean> {
    try {
      await unlink(this.#pathOf(key));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.#pathOf(prefix));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return entries.filter((entry) => !entry.startsWith(PARTIAL_PREFIX)).map((entry) => `${prefix}/${entry}`);
  }

  async sweepPartials(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    let entries: string[];
    try {
      entries = await readdir(this.root, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    for (const entry of entries) {
      if (!path.basename(entry).startsWith(PARTIAL_PREFIX)) continue;
      const file = path.join(this.root, entry);
      const info = await stat(file).catch(() => undefined);
      // A write in progress touches its file continuously; only an abandoned one gets old.
      if (info && info.mtimeMs < cutoff) {
        await rm(file, { force: true });
        removed += 1;
      }
    }
    return removed;
  }
}
