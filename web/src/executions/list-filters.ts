/**
 * The executions list's filters, kept in the URL's query so that every filtered view is a link
 * (SPEC §7). Pure: unit-tested in list-filters.test.ts.
 */

/** Filters of the executions list, as the URL holds them. */
export interface ExecutionFilters {
  status: string;
  workflow_id: string;
  label: string;
  reference: string;
  /** `datetime-local` values (the viewer's time zone). */
  after: string;
  before: string;
}

const NAMES = ['status', 'workflow_id', 'label', 'reference', 'after', 'before'] as const;

/** The filters in a URL query. */
export function readFilters(params: URLSearchParams): ExecutionFilters {
  return Object.fromEntries(NAMES.map((name) => [name, params.get(name) ?? ''])) as unknown as ExecutionFilters;
}

/** A local `datetime-local` value as an ISO instant, or undefined when empty or invalid. */
export function localToIso(value: string): string | undefined {
  if (!value) return undefined;
  const time = new Date(value).getTime();
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** The query of `GET /executions` for the filters (empty ones left out). */
export function listQuery(filters: ExecutionFilters): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  if (filters.status) query.status = filters.status;
  if (filters.workflow_id) query.workflow_id = filters.workflow_id;
  if (/^[^:]+:.*$/.test(filters.label)) query.label = [filters.label];
  if (filters.reference) query.reference = filters.reference;
  const after = localToIso(filters.after);
  const before = localToIso(filters.before);
  if (after) query.created_after = after;
  if (before) query.created_before = before;
  return query;
}
