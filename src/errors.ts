/**
 * The one error registry. Every error Weft reports to a user has an entry here: a code, an HTTP
 * status, a title and a problem type URI (RFC 9457). Routes throw `WeftError`s and the API's
 * error handler turns them into `application/problem+json`; nothing builds an error body by hand.
 * docs/errors.md documents every code (a test checks it).
 */

/** One `{path, message}` item of a validation problem. `path` is a JSON Pointer into the input. */
export interface FieldError {
  path: string;
  message: string;
}

interface ErrorEntry {
  status: number;
  title: string;
}

/** The registry: code -> HTTP status and title. */
export const ERROR_REGISTRY = Object.freeze({
  VALIDATION_FAILED: { status: 400, title: 'Request validation failed' },
  DEFINITION_INVALID: { status: 400, title: 'Workflow definition is invalid' },
  MALFORMED_REQUEST: { status: 400, title: 'Malformed request' },
  UNAUTHORIZED: { status: 401, title: 'Missing or invalid API key' },
  FORBIDDEN: { status: 403, title: 'The API key does not allow this' },
  ORIGIN_NOT_ALLOWED: { status: 403, title: 'Origin not allowed' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  CONFLICT: { status: 409, title: 'Conflict with the current state' },
  LEASE_LOST: { status: 409, title: 'The task lease was lost' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request was not received in time' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  OUTPUT_TOO_LARGE: { status: 413, title: 'Task output too large' },
  URI_TOO_LONG: { status: 414, title: 'Request URL too long' },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'Range not satisfiable' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  EXPECTATION_FAILED: { status: 417, title: 'Unsupported Expect header' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  INTERNAL: { status: 500, title: 'Internal server error' },
  DATABASE_UNAVAILABLE: { status: 503, title: 'Database unavailable' },
  CONFIG_INVALID: { status: 500, title: 'Invalid configuration' },
} satisfies Record<string, ErrorEntry>);

/** A registered error code. */
export type ErrorCode = keyof typeof ERROR_REGISTRY;

/** The problem type URI of a code, e.g. `urn:weft:problem:not-found`. */
export function problemType(code: ErrorCode): string {
  return `urn:weft:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

/** An error with a registered code; the API answers it as problem+json with the code's status. */
export class WeftError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: FieldError[] | undefined;

  constructor(code: ErrorCode, detail: string, options: { errors?: FieldError[]; cause?: unknown } = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WeftError';
    this.code = code;
    this.status = ERROR_REGISTRY[code].status;
    this.errors = options.errors;
  }
}

/** The RFC 9457 body Weft sends for every error. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  errors?: FieldError[];
  instance?: string;
}

/** Builds the problem+json body of a WeftError. */
export function toProblem(error: WeftError, instance?: string): ProblemDetails {
  const entry = ERROR_REGISTRY[error.code];
  const problem: ProblemDetails = {
    type: problemType(error.code),
    title: entry.title,
    status: entry.status,
    detail: error.message,
    code: error.code,
  };
  if (error.errors && error.errors.length > 0) problem.errors = error.errors;
  if (instance) problem.instance = instance;
  return problem;
}

/** Shorthand for the 404 every route answers for a missing or foreign object. */
export function notFound(kind: string, id: string): WeftError {
  return new WeftError('NOT_FOUND', `${kind} '${id}' was not found`);
}

/** The 400 of request values that fail their checks; the detail lists every path and message. */
export function validationFailed(errors: FieldError[], cause?: unknown): WeftError {
  const summary = errors.map((item) => `${item.path || '(root)'}: ${item.message}`).join('; ');
  return new WeftError('VALIDATION_FAILED', summary || 'the request is not valid', { errors, cause });
}
