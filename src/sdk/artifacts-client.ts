import { unwrap, WeftApiError } from './api-error.js';
import type { CallOptions, RawClient } from './client.js';
import type { Artifact, ArtifactListQuery, ArtifactPage } from './types.js';

/**
 * The artifact calls of the client (SPEC §3.1). Uploads and downloads are raw bytes, so they go
 * through fetch directly: openapi-fetch would serialise the body as JSON and read the answer
 * whole. A stream given to `put` is sent as a stream (`duplex: 'half'`, chunked), never buffered;
 * `get` hands back the answer's stream.
 */

/**
 * What an upload takes: bytes, a string (sent as UTF-8), a Blob, a web ReadableStream, or any
 * AsyncIterable of chunks, which includes Node's Readable streams (`fs.createReadStream(…)`).
 */
export type ArtifactData = Uint8Array | string | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>;

/** Options of an upload. */
export interface PutArtifactOptions extends CallOptions {
  /**
   * Stored with the artifact and sent back on download. Default: the Blob's own type,
   * `text/plain;charset=UTF-8` for a string, `application/octet-stream` for anything else.
   */
  contentType?: string | undefined;
  /** The step the artifact belongs to (`?step_id=`); a step the execution does not have is a 400. */
  stepId?: string | undefined;
}

/** Bytes `start` to `end` inclusive (`end` absent: to the last byte), or the last `suffix` bytes. */
export type ByteRange = { start: number; end?: number } | { suffix: number };

/** Options of a download. */
export interface GetArtifactOptions extends CallOptions {
  /** Only these bytes (answered 206); a range starting past the end is a 416 `RANGE_NOT_SATISFIABLE`. */
  range?: ByteRange;
}

/** A download: the bytes as a stream, and what the answer's headers say about them. */
export interface ArtifactDownload {
  /** 200 for the whole artifact, 206 for a range. */
  status: number;
  /** The bytes, streamed. Read it, `bytes()` or `text()` once: they share one body. */
  stream: ReadableStream<Uint8Array>;
  /** The content type it was uploaded with. */
  contentType: string;
  /** Bytes in this answer (the range's length for a 206). */
  size: number;
  /** Bytes of the whole artifact. */
  totalSize: number;
  /** Hex SHA-256 of the whole artifact (its ETag). */
  sha256: string;
  /** For a 206: the bytes sent, inclusive. */
  range: { start: number; end: number } | undefined;
  /** The fetch answer itself, for its other headers. */
  response: Response;
  /** Reads the whole body. */
  bytes(): Promise<Uint8Array>;
  /** Reads the whole body as UTF-8. */
  text(): Promise<string>;
}

/** How the artifact calls reach the server: what the client was created with. */
export interface ArtifactConnection {
  /** The server's root URL, without `/api/v1`. */
  rootUrl: string;
  /** Authorization and workspace headers. */
  headers: Record<string, string>;
  fetch: (request: Request) => Promise<Response>;
}

/** A Request body for `data`; async iterables become a web stream pulled chunk by chunk. */
function bodyOf(data: ArtifactData): { body: NonNullable<RequestInit['body']>; streamed: boolean } {
  if (typeof data === 'string' || data instanceof Blob) return { body: data, streamed: false };
  // The DOM's BodyInit types views over an ArrayBuffer only; fetch sends any view the same way.
  if (data instanceof Uint8Array) return { body: data as Uint8Array<ArrayBuffer>, streamed: false };
  if (data instanceof ReadableStream) return { body: data, streamed: true };
  const iterator = data[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(typeof next.value === 'string' ? encoder.encode(next.value) : next.value);
    },
    // fetch cancels the body when the server answers early (403, 413): this destroys a Node stream.
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
  return { body: stream, streamed: true };
}

function rangeHeader(range: ByteRange): string {
  const numbers = 'suffix' in range ? [range.suffix] : [range.start, ...(range.end === undefined ? [] : [range.end])];
  if (!numbers.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new RangeError(`range: expected non-negative integers, got ${JSON.stringify(range)}`);
  }
  if ('suffix' in range) return `bytes=-${range.suffix}`;
  return `bytes=${range.start}-${range.end ?? ''}`;
}

/** The WeftApiError of a non-2xx answer, with its problem body when it has one. */
async function failure(method: string, response: Response): Promise<WeftApiError> {
  const text = await response.text().catch(() => '');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's page): WeftApiError keeps the start of the text.
  }
  return new WeftApiError(response.status, body, `${method} ${new URL(response.url).pathname}`);
}

function downloadOf(response: Response): ArtifactDownload {
  const size = Number(response.headers.get('content-length') ?? 0);
  const contentRange = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
  const etag = response.headers.get('etag') ?? '';
  return {
    status: response.status,
    stream: response.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() }),
    contentType: response.headers.get('content-type') ?? 'application/octet-stream',
    size,
    totalSize: contentRange ? Number(contentRange[3]) : size,
    sha256: etag.replace(/^W\//, '').replace(/"/g, ''),
    range: contentRange ? { start: Number(contentRange[1]), end: Number(contentRange[2]) } : undefined,
    response,
    bytes: async () => new Uint8Array(await response.arrayBuffer()),
    text: () => response.text(),
  };
}

/** The artifacts of executions: `client.artifacts`. */
export class ArtifactsApi {
  readonly #connection: ArtifactConnection;
  readonly #raw: RawClient;

  constructor(connection: ArtifactConnection, raw: RawClient) {
    this.#connection = connection;
    this.#raw = raw;
  }

  /**
   * Uploads artifact `name` of an execution (replacing one of that name) and resolves to its
   * metadata. A worker key may upload only while it holds a task of the execution (else 403
   * `FORBIDDEN`); past `WEFT_ARTIFACT_MAX_BYTES` the answer is 413 and nothing is kept.
   */
  async put(
    executionId: string,
    name: string,
    data: ArtifactData,
    options: PutArtifactOptions = {},
  ): Promise<Artifact> {
    const url = new URL(this.#url(executionId, name));
    if (options.stepId !== undefined) url.searchParams.set('step_id', options.stepId);
    const headers = new Headers(this.#connection.headers);
    if (options.contentType !== undefined) headers.set('content-type', options.contentType);
    const { body, streamed } = bodyOf(data);
    const request = new Request(url, {
      method: 'PUT',
      headers,
      body,
      ...(streamed ? { duplex: 'half' as const } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const response = await this.#connection.fetch(request);
    if (response.status !== 201) throw await failure('PUT', response);
    return (await response.json()) as Artifact;
  }

  /** Downloads an artifact, or one range of it, as a stream with its type, size and sha256. */
  async get(executionId: string, name: string, options: GetArtifactOptions = {}): Promise<ArtifactDownload> {
    const headers = new Headers(this.#connection.headers);
    if (options.range) headers.set('range', rangeHeader(options.range));
    const request = new Request(this.#url(executionId, name), {
      headers,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const response = await this.#connection.fetch(request);
    if (response.status !== 200 && response.status !== 206) throw await failure('GET', response);
    return downloadOf(response);
  }

  /** One page of an execution's artifacts, by name. */
  list(executionId: string, query: ArtifactListQuery = {}, options?: CallOptions): Promise<ArtifactPage> {
    return unwrap(
      'GET',
      this.#raw.GET('/api/v1/executions/{id}/artifacts', { params: { path: { id: executionId }, query }, ...options }),
    );
  }

  /** Deletes an artifact: its file and its record. */
  async delete(executionId: string, name: string, options?: CallOptions): Promise<void> {
    await unwrap(
      'DELETE',
      this.#raw.DELETE('/api/v1/executions/{id}/artifacts/{name}', {
        params: { path: { id: executionId, name } },
        ...options,
      }),
    );
  }

  /** Appended, not resolved: a root URL with a path (`https://host/weft`) keeps it. */
  #url(executionId: string, name: string): string {
    return `${this.#connection.rootUrl}/api/v1/executions/${encodeURIComponent(executionId)}/artifacts/${encodeURIComponent(name)}`;
  }
}
