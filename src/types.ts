/**
 * Core domain types of Weft.
 *
 * Glossary
 * - workspace: the tenant. Every object (workflow, execution, key, webhook) belongs to exactly one;
 *   an object of another workspace does not exist for the caller (404).
 * - API key: a secret that authenticates a caller as one workspace with one role (owner, admin,
 *   member, worker). Stored only as a SHA-256 hash; the raw key is shown once.
 * - owner: the instance operator's role (the bootstrap key): everything, creates workspaces and
 *   acts in any of them; every other role is confined to its key's workspace.
 * - workflow: a named, versioned JSON definition: a DAG of steps plus metadata.
 * - version: an immutable snapshot of a workflow's definition; PUT creates the next one. Each
 *   execution pins the version it started with.
 * - definition: the JSON document of SPEC §1 (name, steps, triggers, output, ...).
 * - step: one node of the DAG; runs one task type with templated input.
 * - plan: the steps grouped into topological layers, derived purely from a definition.
 * - execution: one run of a workflow version with an input.
 * - attempt: one try of a step; retries and timeouts create more.
 * - task: the unit a worker receives: one attempt of one step, held under a lease.
 * - lease: time-bounded ownership of a task by a process or worker; it expires if not renewed.
 * - worker: code that runs tasks: in-process handlers or external pollers.
 * - trigger: what starts executions without an API call: an event match or a cron schedule.
 * - event: something that happened, posted to `/events` (in) or emitted as `workflow.*`/`step.*`
 *   (out, to webhooks and streams).
 */

/**
 * Role of an API key: `owner` (the instance operator, every workspace), `admin` (everything within
 * its own workspace), `member` (workflows, executions, events, webhooks), `worker` (tasks).
 */
export type Role = 'owner' | 'admin' | 'member' | 'worker';

/** All roles, in decreasing power. */
export const ROLES: readonly Role[] = Object.freeze(['owner', 'admin', 'member', 'worker']);

/** A tenant. */
export interface Workspace {
  id: string;
  slug: string;
  name: string;
  created_at: string;
}

/** An API key as shown after creation (never with its secret). */
export interface ApiKey {
  id: string;
  workspace_id: string;
  name: string;
  role: Role;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

/** A workflow's metadata with the definition of one version. */
export interface Workflow {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  /** The version whose definition this is. */
  version: number;
  /** The newest version. */
  latest_version: number;
  enabled: boolean;
  labels: Record<string, string>;
  webhook_url: string | null;
  definition: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

/** One immutable version of a workflow. */
export interface WorkflowVersion {
  workflow_id: string;
  version: number;
  definition: Record<string, unknown>;
  created_at: string;
}

/** A page of a list: newest first, `next_cursor` null on the last page. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
