import { NonRetryableError } from '../task-outcomes.js';
import { defineTask } from '../task-type.js';

interface HttpInput {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean>;
  body?: unknown;
  timeout_seconds?: number;
  expect_status?: number[];
}

/** Largest response body kept in a step output. */
const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/** `http`: one HTTP request. 5xx, 429 and network errors are retryable; other 4xx are not. */
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
    },
  },
  outputSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { status: { type: 'integer' }, headers: { type: 'object' }, body: {} },
  },
  handler: async (input, { signal }) => {
    const request = input as HttpInput;
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      throw new NonRetryableError(`http: '${String(request.url)}' is not a URL`);
    }
    for (const [key, value] of Object.entries(request.query ?? {})) url.searchParams.set(key, String(value));
    const headers = new Headers(request.headers ?? {});
    let body: string | undefined;
    if (request.body !== undefined && request.body !== null) {
      body = typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
      if (typeof request.body !== 'string' && !headers.has('content-type'))
        headers.set('content-type', 'application/json');
    }
    const signals = [signal];
    if (request.timeout_seconds) signals.push(AbortSignal.timeout(request.timeout_seconds * 1000));
    let response: Response;
    try {
      response = await fetch(url, { method: request.method ?? 'GET', headers, body, signal: AbortSignal.any(signals) });
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      throw new Error(
        `http: ${request.method ?? 'GET'} ${url.origin}${url.pathname} failed: ${cause ?? (error as Error).message}`,
      );
    }
    const text = await response.text();
    if (text.length > MAX_RESPONSE_BYTES)
      throw new NonRetryableError(`http: response body over ${MAX_RESPONSE_BYTES} bytes`);
    const isJson = (response.headers.get('content-type') ?? '').includes('json');
    let parsed: unknown = text;
    if (isJson && text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    const expected = request.expect_status;
    const ok = expected ? expected.includes(response.status) : response.status >= 200 && response.status < 300;
    if (!ok) {
      const message = `http: ${request.method ?? 'GET'} ${url.origin}${url.pathname} answered ${response.status}`;
      // 5xx and 429 may pass on a later attempt; other statuses will not.
      if (response.status >= 500 || response.status === 429) throw new Error(message);
      throw new NonRetryableError(message);
    }
    return { status: response.status, headers: Object.fromEntries(response.headers.entries()), body: parsed };
  },
});
