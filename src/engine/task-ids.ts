/**
 * Task ids and task lease owners of external workers. A task id names its execution, step,
 * attempt, claim nonce (and item), base64url JSON so it round-trips without a lookup; a lease owner
 * names the claim's nonce, the polling API key and the worker id.
 */

/** Lease owners of external tasks start with this; engine owners never do. */
export const TASK_OWNER_PREFIX = 'task:';

/** What a task id says. */
export interface TaskRef {
  executionId: string;
  stepId: string;
  attempt: number;
  nonce: string;
  /** The item of a `for_each` step, or undefined for the step itself. */
  index?: number | undefined;
}

export function encodeTaskId(ref: TaskRef): string {
  const parts: unknown[] = [ref.executionId, ref.stepId, ref.attempt, ref.nonce];
  if (ref.index !== undefined) parts.push(ref.index);
  return `task_${Buffer.from(JSON.stringify(parts)).toString('base64url')}`;
}

export function decodeTaskId(id: string): TaskRef | undefined {
  if (!id.startsWith('task_')) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(id.slice(5), 'base64url').toString('utf8'));
    if (!Array.isArray(value) || (value.length !== 4 && value.length !== 5)) return undefined;
    const [executionId, stepId, attempt, nonce, index] = value as unknown[];
    if (typeof executionId !== 'string' || typeof stepId !== 'string') return undefined;
    if (typeof attempt !== 'number' || !Number.isInteger(attempt) || typeof nonce !== 'string') return undefined;
    if (value.length === 5 && !(typeof index === 'number' && Number.isInteger(index) && index >= 0)) return undefined;
    return { executionId, stepId, attempt, nonce, index: value.length === 5 ? (index as number) : undefined };
  } catch {
    // Not base64url JSON: an id Weft never issued, which is a 404 like any unknown id.
    return undefined;
  }
}

/**
 * A task lease owner: `task:<nonce>@<key id>:<worker_id>`, naming the API key that polled, so the
 * artifact routes can tell whether a worker key holds a task of an execution. Owners written
 * before keys were recorded (`task:<nonce>:<worker_id>`) are still read.
 */
export function taskOwner(nonce: string, keyId: string | undefined, workerId: string): string {
  return `${TASK_OWNER_PREFIX}${nonce}${keyId === undefined ? '' : `@${keyId}`}:${workerId}`;
}

/** The nonce of a task lease owner (what task ids carry), '' for an engine owner. */
export function nonceOfOwner(owner: string): string {
  if (!owner.startsWith(TASK_OWNER_PREFIX)) return '';
  const rest = owner.slice(TASK_OWNER_PREFIX.length);
  const colon = rest.indexOf(':');
  const at = rest.indexOf('@');
  return rest.slice(0, at !== -1 && at < colon ? at : colon);
}

/** The worker id inside a task lease owner (`task:<nonce>[@<key id>]:<worker_id>`). */
export function workerOfOwner(owner: string): string {
  if (!owner.startsWith(TASK_OWNER_PREFIX)) return owner;
  const rest = owner.slice(TASK_OWNER_PREFIX.length);
  return rest.slice(rest.indexOf(':') + 1);
}
