import type { Kysely } from 'kysely';
import type { WorkflowDefinition } from '../../definition/definition-schema.js';
import { WeftError } from '../../errors.js';
import { newId, nowIso } from '../../ids.js';
import type { Page, Workflow, WorkflowVersion } from '../../types.js';
import type { Database, WorkflowRow, WorkflowVersionRow } from '../database-schema.js';
import { decodeCursor, type PageRequest, toPage } from '../pagination.js';
import { inTransaction, type StoreDialect } from '../store-dialect.js';

/** Filters of `GET /workflows`. */
export interface WorkflowFilters {
  enabled?: boolean | undefined;
  /** Every `[key, value]` must match (AND). */
  labels?: Array<[string, string]> | undefined;
  /** Case-insensitive substring of the name. */
  q?: string | undefined;
  includeDeleted?: boolean | undefined;
}

/** Metadata that PATCH may change without a new version. */
export interface WorkflowMetadataPatch {
  name?: string | undefined;
  description?: string | null | undefined;
  enabled?: boolean | undefined;
  labels?: Record<string, string> | undefined;
  webhook_url?: string | null | undefined;
}

/** Metadata fields that live both on the workflow and in its definition. */
const METADATA_FIELDS = ['name', 'description', 'enabled', 'labels', 'webhook_url'] as const;

function metadataOf(definition: WorkflowDefinition) {
  return {
    name: definition.name,
    description: definition.description ?? null,
    enabled: definition.enabled === false ? 0 : 1,
    labels: JSON.stringify(definition.labels ?? {}),
    webhook_url: definition.webhook_url ?? null,
  };
}

/**
 * The definition as clients see it: for the latest version, the stored document with the
 * workflow's current metadata laid over it, so a PATCH shows and a GET-edit-PUT keeps it.
 */
function overlayMetadata(definition: Record<string, unknown>, row: WorkflowRow): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...definition, name: row.name };
  if ('enabled' in definition || row.enabled === 0) merged.enabled = row.enabled === 1;
  const labels = JSON.parse(row.labels) as Record<string, string>;
  for (const [field, value] of [
    ['description', row.description],
    ['webhook_url', row.webhook_url],
    ['labels', Object.keys(labels).length > 0 ? labels : null],
  ] as const) {
    if (value === null) delete merged[field];
    else merged[field] = value;
  }
  return reorderLikeOriginal(merged, definition);
}

/** Keeps the original key order (metadata first when newly added) so documents diff cleanly. */
function reorderLikeOriginal(merged: Record<string, unknown>, original: Record<string, unknown>) {
  const ordered: Record<string, unknown> = {};
  for (const key of METADATA_FIELDS) if (key in merged && !(key in original)) ordered[key] = merged[key];
  for (const key of Object.keys(original)) if (key in merged) ordered[key] = merged[key];
  return Object.assign(ordered, merged);
}

function toWorkflow(row: WorkflowRow, version: WorkflowVersionRow): Workflow {
  const stored = JSON.parse(version.definition) as Record<string, unknown>;
  const isLatest = version.version === row.latest_version;
  return {
    id: row.id,
    workspace_id: row.workspace_id,
    name: row.name,
    description: row.description,
    version: version.version,
    latest_version: row.latest_version,
    enabled: row.enabled === 1,
    labels: JSON.parse(row.labels) as Record<string, string>,
    webhook_url: row.webhook_url,
    definition: isLatest ? overlayMetadata(stored, row) : stored,
    created_at: row.created_at,
    updated_at: row.updated_at,
    deleted_at: row.deleted_at,
  };
}

/** What a start reads of a workflow (engine/workflow-heads.ts keeps and re-checks it). */
export interface WorkflowHead {
  id: string;
  workspaceId: string;
  name: string;
  enabled: boolean;
  webhookUrl: string | null;
  latestVersion: number;
}

/** Workflows and their immutable versions. */
export class WorkflowRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Creates a workflow at version 1. */
  async create(workspaceId: string, definition: WorkflowDefinition): Promise<Workflow> {
    const now = nowIso();
    const row: WorkflowRow = {
      id: newId('wf'),
      workspace_id: workspaceId,
      ...metadataOf(definition),
      latest_version: 1,
      created_at: now,
      updated_at: now,
      deleted_at: null,
    };
    const version: WorkflowVersionRow = {
      workspace_id: workspaceId,
      workflow_id: row.id,
      version: 1,
      definition: JSON.stringify(definition),
      created_at: now,
    };
    await inTransaction(this.db, async (trx) => {
      await trx.insertInto('workflows').values(row).execute();
      await trx.insertInto('workflow_versions').values(version).execute();
    });
    return toWorkflow(row, version);
  }

  private async findRow(trx: Kysely<Database>, workspaceId: string, id: string, includeDeleted: boolean) {
    let query = trx.selectFrom('workflows').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id);
    if (!includeDeleted) query = query.where('deleted_at', 'is', null);
    return query.executeTakeFirst();
  }

  private findVersion(trx: Kysely<Database>, workspaceId: string, id: string, version: number) {
    return trx
      .selectFrom('workflow_versions')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('workflow_id', '=', id)
      .where('version', '=', version)
      .executeTakeFirst();
  }

  /** A workflow at its latest version, or at `version`; undefined when either does not exist. */
  async get(
    workspaceId: string,
    id: string,
    options: { version?: number | undefined; includeDeleted?: boolean | undefined } = {},
  ): Promise<Workflow | undefined> {
    const row = await this.findRow(this.db, workspaceId, id, options.includeDeleted === true);
    if (!row) return undefined;
    const version = await this.findVersion(this.db, workspaceId, id, options.version ?? row.latest_version);
    return version ? toWorkflow(row, version) : undefined;
  }

  /**
   * What a start needs of live (not deleted) workflows, by id, in one query: workspace, name,
   * whether enabled, webhook and latest version (engine/workflow-heads.ts). Ids are unique across
   * workspaces; the caller compares the workspace.
   */
  async heads(ids: string[]): Promise<WorkflowHead[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom('workflows')
      .select(['id', 'workspace_id', 'name', 'enabled', 'webhook_url', 'latest_version'])
      .where('id', 'in', ids)
      .where('deleted_at', 'is', null)
      .execute();
    return rows.map((row) => ({
      id: row.id,
      workspaceId: row.workspace_id,
      name: row.name,
      enabled: row.enabled === 1,
      webhookUrl: row.webhook_url,
      latestVersion: row.latest_version,
    }));
  }

  /** The stored definition of one version, for the engine (versions are immutable). */
  async versionDefinition(workflowId: string, version: number): Promise<WorkflowDefinition | undefined> {
    const row = await this.db
      .selectFrom('workflow_versions')
      .select('definition')
      .where('workflow_id', '=', workflowId)
      .where('version', '=', version)
      .executeTakeFirst();
    return row ? (JSON.parse(row.definition) as WorkflowDefinition) : undefined;
  }

  /** Workflows of a workspace at their latest versions, newest first. */
  async list(workspaceId: string, filters: WorkflowFilters, page: PageRequest): Promise<Page<Workflow>> {
    let query = this.db
      .selectFrom('workflows')
      .innerJoin('workflow_versions', (join) =>
        join
          .onRef('workflow_versions.workflow_id', '=', 'workflows.id')
          .onRef('workflow_versions.version', '=', 'workflows.latest_version'),
      )
      .selectAll('workflows')
      .select(['workflow_versions.definition', 'workflow_versions.created_at as version_created_at'])
      .where('workflows.workspace_id', '=', workspaceId)
      .orderBy('workflows.id', 'desc')
      .limit(page.limit + 1);
    if (!filters.includeDeleted) query = query.where('workflows.deleted_at', 'is', null);
    if (filters.enabled !== undefined) query = query.where('workflows.enabled', '=', filters.enabled ? 1 : 0);
    if (filters.q) query = query.where(this.dialect.containsIgnoringCase('workflows.name', filters.q));
    for (const [key, value] of filters.labels ?? []) {
      query = query.where(this.dialect.jsonFieldEquals('workflows.labels', key, value));
    }
    if (page.cursor) query = query.where('workflows.id', '<', decodeCursor(page.cursor));
    const rows = await query.execute();
    return toPage(rows, page.limit, (row) =>
      toWorkflow(row, {
        workspace_id: row.workspace_id,
        workflow_id: row.id,
        version: row.latest_version,
        definition: row.definition,
        created_at: row.version_created_at,
      }),
    );
  }

  /** The names of these workflows of a workspace (deleted ones too), by id; unknown ids are left out. */
  async names(workspaceId: string, ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('workflows')
      .select(['id', 'name'])
      .where('workspace_id', '=', workspaceId)
      .where('id', 'in', ids)
      .execute();
    return new Map(rows.map((row) => [row.id, row.name]));
  }

  /** Versions of a workflow, newest first; undefined when the workflow does not exist. */
  async listVersions(workspaceId: string, id: string, page: PageRequest): Promise<Page<WorkflowVersion> | undefined> {
    const row = await this.findRow(this.db, workspaceId, id, false);
    if (!row) return undefined;
    let query = this.db
      .selectFrom('workflow_versions')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('workflow_id', '=', id)
      .orderBy('version', 'desc')
      .limit(page.limit + 1);
    if (page.cursor) {
      const before = Number(decodeCursor(page.cursor));
      if (!Number.isInteger(before)) {
        throw new WeftError('VALIDATION_FAILED', 'the cursor is not one this API returned', {
          errors: [{ path: 'query/cursor', message: 'invalid cursor' }],
        });
      }
      query = query.where('version', '<', before);
    }
    const rows = await query.execute();
    const versions = rows.map((version) => ({ ...version, id: String(version.version) }));
    return toPage(versions, page.limit, (version) => ({
      workflow_id: version.workflow_id,
      version: version.version,
      definition: JSON.parse(version.definition) as Record<string, unknown>,
      created_at: version.created_at,
    }));
  }

  /**
   * Replaces the definition (PUT): a new version and metadata taken from the definition. A
   * definition identical to the latest one changes nothing, so a repeated PUT is idempotent.
   */
  async update(workspaceId: string, id: string, definition: WorkflowDefinition): Promise<Workflow | undefined> {
    return inTransaction(this.db, async (trx) => {
      const row = await this.findRow(trx, workspaceId, id, false);
      if (!row) return undefined;
      const latest = await this.findVersion(trx, workspaceId, id, row.latest_version);
      if (!latest) return undefined;
      const metadata = metadataOf(definition);
      const unchanged =
        latest.definition === JSON.stringify(definition) &&
        METADATA_FIELDS.every((column) => row[column] === metadata[column]);
      if (unchanged) return toWorkflow(row, latest);
      const now = nowIso();
      const version: WorkflowVersionRow = {
        workspace_id: workspaceId,
        workflow_id: id,
        version: row.latest_version + 1,
        definition: JSON.stringify(definition),
        created_at: now,
      };
      // The conditional update serialises concurrent PUTs: only one moves latest_version forward.
      const updated = await trx
        .updateTable('workflows')
        .set({ ...metadata, latest_version: version.version, updated_at: now })
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .where('latest_version', '=', row.latest_version)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) {
        throw new WeftError('CONFLICT', `workflow '${id}' was changed by another request at the same time; retry`);
      }
      await trx.insertInto('workflow_versions').values(version).execute();
      const newRow = { ...row, ...metadata, latest_version: version.version, updated_at: now };
      return toWorkflow(newRow, version);
    });
  }

  /** Changes metadata without a new version (PATCH). */
  async patch(workspaceId: string, id: string, changes: WorkflowMetadataPatch): Promise<Workflow | undefined> {
    const set: Partial<WorkflowRow> = { updated_at: nowIso() };
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.description !== undefined) set.description = changes.description;
    if (changes.enabled !== undefined) set.enabled = changes.enabled ? 1 : 0;
    if (changes.labels !== undefined) set.labels = JSON.stringify(changes.labels);
    if (changes.webhook_url !== undefined) set.webhook_url = changes.webhook_url;
    const result = await this.db
      .updateTable('workflows')
      .set(set)
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return undefined;
    return this.get(workspaceId, id);
  }

  /** Soft-deletes a workflow; false when there is no such (undeleted) workflow. */
  async softDelete(workspaceId: string, id: string): Promise<boolean> {
    const now = nowIso();
    const result = await this.db
      .updateTable('workflows')
      .set({ deleted_at: now, updated_at: now })
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
