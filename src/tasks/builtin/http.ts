import type { Response } from 'undici';
import { ARTIFACT_NAME_PATTERN, checkArtifactName } from '../../artifacts/artifacts.js';
import { egressClientFor, readBodyCapped } from '../../egress/egress-client.js';
import { findEgressRefusal } from '../../egress/egress-errors.js';
import { answeredError } from '../../egress/response-excerpt.js';
import { NonRetryableError } from '../task-outcomes.js';
import { defineTask, type StoredArtifact, type TaskArtifacts } from '../task-type.js';

interface HttpInput {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean>;
  body?: unknown;
  timeout_seconds?: number;
  expect_status?: number[];
  save_as?: string;
}

/** Largest response body kept in a step output when the process sets no WEFT_HTTP_MAX_RESPONSE_BYTES. */
export const DEFAULT_HTTP_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/** Timeout of a request when neither the input nor the step sets one (WEFT_HTTP_DEFAULT_TIMEOUT_MS). */
export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;
/** Redirects an `http` step follows; each hop goes through the egress policy again. */
const MAX_REDIRECTS = 20;

/**
 * The timeout one request runs under, and where it comes from: the input's `timeout_seconds`;
 * else none of its own when the step has an attempt `timeout_seconds` (that one bounds it); else
 * the process default, so a server that never answers cannot hold a worker slot for ever.
 */
export function effectiveHttpTimeout(
  inputSeconds: number | undefined,
  stepSeconds: number | null,
  defaultMs: number = DEFAULT_HTTP_TIMEOUT_MS,
): { ms: number; source: 'input' | 'default' } | undefined {
  if (inputSeconds) return { ms: inputSeconds * 1000, source: 'input' };
  if (stepSeconds !== null) return undefined;
  return { ms: defaultMs, source: 'default' };
}

/**
 * Streams a response body into the artifact `name`, chunk by chunk as the storage takes them, so
 * a body of any size up to WEFT_ARTIFACT_MAX_BYTES passes through without being held in memory.
 * Whatever the outcome, the rest of the body is cancelled: a refused or oversized body drops the
 * connection instead of being drained.
 */
async function saveBody(response: Response, name: string, artifacts: TaskArtifacts): Promise<StoredArtifact> {
  const reader = response.body?.getReader();
  const chunks = (async function* () {
    if (!reader) return;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  })();
  try {
    return await artifacts.put(name, chunks, response.headers.get('content-type') ?? undefined);
  } finally {
    await reader?.cancel().catch(() => undefined);
  }
}

/**
 * `http`: one HTTP request under the egress policy. 5xx, 429, timeouts and network errors are
 * retryable; other 4xx, refused destinations (EGRESS_REFUSED) and bodies over the cap
 * (SIZE_LIMIT) are not. With `save_as` the body becomes an artifact (SPEC §3.1) and the output
 * carries its description instead of the body; a status outside `expect_status` fails before
 * anything is stored, so a retried error page never replaces an earlier artifact. Such a failure
 * keeps the status and the body's first 2 KiB in the error's `details`.
 */
export const httpTask = defineTask({
  type: 'http',
  source: 'builtin',
  description: 'Sends an HTTP request; fails outside `expect_status` (default any 2xx).',
  inputSchema: {
    type: 'object',
    required: ['url'],
    additionalProperties: false,
    properties: {
      url: { type: 'string', format: 'uri' },
      method: { type: 'string', enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], default: 'GET' },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      query: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
      body: {},
      timeout_seconds: { type: 'number', exclusiveMinimum: 0 },
      expect_status: { type: 'array', items: { type: 'integer', minimum: 100, maximum: 599 } },
      save_as: { type: 'string', pattern: ARTIFACT_NAME_PATTERN },
    },
  },
  outputSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status: { type: 'integer' },
      headers: { type: 'object' },
      body: {},
      artifact: {
        type: 'object',
        additionalProperties: false,
        properties: {
          name: { type: 'string' },
          size: { type: 'integer' },
          content_type: { type: 'string' },
          sha256: { type: 'string' },
        },
      },
    },
  },
  handler: async (input, { signal, timeoutSeconds, config, artifacts }) => {
    const request = input as HttpInput;
    const method = request.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      throw new NonRetryableError(`http: '${String(request.url)}' is not a URL`);
    }
    const saveAs: unknown = request.save_as;
    if (saveAs !== undefined) {
      // A rendered name is only known now; a bad one is refused before the request is sent.
      if (typeof saveAs !== 'string') {
        throw new NonRetryableError(`http: input/save_as is ${JSON.stringify(saveAs)}, not an artifact name`);
      }
      try {
        checkArtifactName(saveAs, 'input/save_as');
      } catch (error) {
        throw new NonRetryableError(`http: ${(error as Error).message}`);
      }
    }
    for (const [key, value] of Object.entries(request.query ?? {})) url.searchParams.set(key, String(value));
    const headers: Record<string, string> = { ...request.headers };
    const hasContentType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
    let body: string | undefined;
    if (request.body !== undefined && request.body !== null) {
      body = typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
      if (typeof request.body !== 'string' && !hasContentType) headers['content-type'] = 'application/json';
    }
    const timeout = effectiveHttpTimeout(request.timeout_seconds, timeoutSeconds, config.httpDefaultTimeoutMs);
    const timer = timeout ? AbortSignal.timeout(timeout.ms) : undefined;
    const where = `http: ${method} ${url.protocol === 'data:' ? 'data:' : `${url.origin}${url.pathname}`}`;
    const failure = (error: unknown): Error => {
      const refusal = findEgressRefusal(error);
      if (refusal || error instanceof NonRetryableError) {
        const cause = refusal ?? (error as NonRetryableError);
        return new NonRetryableError(`${where}: ${cause.message}`, { cause, code: cause.code });
      }
      if (timer?.aborted && timeout) {
        const seconds = timeout.ms / 1000;
        return new Error(
          timeout.source === 'default'
            ? `${where} timed out after ${seconds} s (the default timeout, WEFT_HTTP_DEFAULT_TIMEOUT_MS; set input.timeout_seconds)`
            : `${where} timed out after ${seconds} s (input.timeout_seconds)`,
        );
      }
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      return new Error(`${where} failed: ${cause ?? (error as Error).message}`);
    };
    let response: Response;
    try {
      ({ response } = await egressClientFor(config.egress).fetch(url, {
        method,
        headers,
        body,
        signal: timer ? AbortSignal.any([signal, timer]) : signal,
        maxRedirects: MAX_REDIRECTS,
      }));
    } catch (error) {
      throw failure(error);
    }
    const status = response.status;
    const responseHeaders = Object.fromEntries(response.headers.entries());
    const expected = request.expect_status;
    const ok = expected ? expected.includes(status) : status >= 200 && status < 300;
    if (!ok) {
      // What the server said (its first 2 KiB) goes into the error's details.
      throw await answeredError(response, `${where} answered ${status}`);
    }
    if (typeof saveAs === 'string') {
      let artifact: StoredArtifact;
      try {
        artifact = await saveBody(response, saveAs, artifacts);
      } catch (error) {
        throw failure(error);
      }
      return { status, headers: responseHeaders, artifact };
    }
    const maxBytes = config.httpMaxResponseBytes ?? DEFAULT_HTTP_MAX_RESPONSE_BYTES;
    const contentType = response.headers.get('content-type') ?? '';
    let text: string;
    try {
      text = (await readBodyCapped(response, maxBytes, 'WEFT_HTTP_MAX_RESPONSE_BYTES')).toString('utf8');
    } catch (error) {
      throw failure(error);
    }
    let parsed: unknown = text;
    if (contentType.includes('json') && text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status, headers: responseHeaders, body: parsed };
  },
});
