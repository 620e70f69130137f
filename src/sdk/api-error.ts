/**
 * The error the SDK client throws for every non-2xx answer. Weft answers errors as RFC 9457
 * problem+json with a registered `code` (docs/errors.md); the whole body is kept so callers can
 * read `errors` (one entry per invalid field) or anything a later server version adds.
 */

/** One invalid field of a 400 answer. */
export interface ApiFieldError {
  /** JSON Pointer into the body, or `query/<name>`, `params/<name>`. */
  path: string;
  message: string;
}

/** An RFC 9457 problem body as Weft sends it. */
export interface ApiProblem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: ApiFieldError[];
}

function isProblem(body: unknown): body is ApiProblem {
  const candidate = body as Partial<ApiProblem> | null;
  return (
    candidate !== null &&
    typeof candidate === 'object' &&
    typeof candidate.code === 'string' &&
    typeof candidate.status === 'number'
  );
}

/** A non-2xx answer of the Weft API. */
export class WeftApiError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The registered error code (`NOT_FOUND`, `LEASE_LOST`, …), or `HTTP_<status>` when the body was no problem. */
  readonly code: string;
  /** The problem body, when the answer was problem+json. */
  readonly problem: ApiProblem | undefined;
  /** Field errors of a 400 answer (empty otherwise). */
  readonly errors: ApiFieldError[];
  /** The request that failed, as `METHOD /path`. */
  readonly request: string;

  constructor(status: number, body: unknown, request: string) {
    const problem = isProblem(body) ? body : undefined;
    // A proxy in front of Weft may answer with HTML or plain text; keep a little of it for the message.
    const detail = problem?.detail ?? (typeof body === 'string' ? body.slice(0, 200) : '');
    super(`${request} answered ${status}${problem ? ` ${problem.code}` : ''}${detail ? `: ${detail}` : ''}`);
    this.name = 'WeftApiError';
    this.status = status;
    this.code = problem?.code ?? `HTTP_${status}`;
    this.problem = problem;
    this.errors = problem?.errors ?? [];
    this.request = request;
  }
}

/** Resolves to the body of a 2xx openapi-fetch answer; throws WeftApiError for any other status. */
export async function unwrap<T>(
  method: string,
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) {
    const where = response.url ? new URL(response.url).pathname : '';
    throw new WeftApiError(response.status, error, `${method} ${where}`.trim());
  }
  return data as T;
}
