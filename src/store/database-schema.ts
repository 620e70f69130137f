/**
 * Row types of Weft's tables, as Kysely sees them. Both backends store the same shapes: ids and
 * timestamps (ISO 8601 UTC) as text, JSON as text, booleans as 0/1 integers, so one set of
 * queries serves SQLite and PostgreSQL. Every table carries `workspace_id`.
 */

export interface WorkspaceRow {
  id: string;
  slug: string;
  name: string;
  created_at: string;
}

export interface ApiKeyRow {
  id: string;
  workspace_id: string;
  name: string;
  role: string;
  /** First characters of the raw key, shown in lists so people can tell keys apart. */
  prefix: string;
  /** SHA-256 (hex) of the raw key; the raw key is never stored. */
  key_hash: string;
  created_at: string;
  last_used_at: string | null;
}

export interface WorkflowRow {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  enabled: number;
  /** JSON object of string labels. */
  labels: string;
  webhook_url: string | null;
  latest_version: number;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface WorkflowVersionRow {
  workspace_id: string;
  workflow_id: string;
  version: number;
  /** The definition as submitted, JSON. */
  definition: string;
  created_at: string;
}

/** Kysely's view of the database. */
export interface Database {
  workspaces: WorkspaceRow;
  api_keys: ApiKeyRow;
  workflows: WorkflowRow;
  workflow_versions: WorkflowVersionRow;
}
