import type { Kysely } from 'kysely';
import { WeftError } from '../../errors.js';
import { newId, nowIso } from '../../ids.js';
import type { Page, Workspace } from '../../types.js';
import type { Database, WorkspaceRow } from '../database-schema.js';
import { decodeCursor, type PageRequest, toPage } from '../pagination.js';
import type { StoreDialect } from '../store-dialect.js';

function toWorkspace(row: WorkspaceRow): Workspace {
  return { id: row.id, slug: row.slug, name: row.name, created_at: row.created_at };
}

/** Workspaces (tenants). */
export class WorkspaceRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Creates a workspace; a taken slug is a 409. */
  async create(input: { slug: string; name: string }): Promise<Workspace> {
    const row: WorkspaceRow = { id: newId('ws'), slug: input.slug, name: input.name, created_at: nowIso() };
    try {
      await this.db.insertInto('workspaces').values(row).execute();
    } catch (error) {
      if (this.dialect.isUniqueViolation(error)) {
        throw new WeftError('CONFLICT', `a workspace with slug '${input.slug}' already exists`, { cause: error });
      }
      throw error;
    }
    return toWorkspace(row);
  }

  /** Inserts a workspace unless its slug exists; returns it when this call created it. */
  async createIfSlugFree(input: { slug: string; name: string }): Promise<Workspace | undefined> {
    const row: WorkspaceRow = { id: newId('ws'), slug: input.slug, name: input.name, created_at: nowIso() };
    const result = await this.db
      .insertInto('workspaces')
      .values(row)
      .onConflict((conflict) => conflict.column('slug').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0 ? toWorkspace(row) : undefined;
  }

  /** A workspace by id. */
  async get(id: string): Promise<Workspace | undefined> {
    const row = await this.db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toWorkspace(row) : undefined;
  }

  /** A workspace by slug. */
  async getBySlug(slug: string): Promise<Workspace | undefined> {
    const row = await this.db.selectFrom('workspaces').selectAll().where('slug', '=', slug).executeTakeFirst();
    return row ? toWorkspace(row) : undefined;
  }

  /** Workspaces, newest first; `onlyId` restricts the list to one workspace. */
  async list(page: PageRequest, onlyId?: string): Promise<Page<Workspace>> {
    let query = this.db
      .selectFrom('workspaces')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(page.limit + 1);
    if (onlyId !== undefined) query = query.where('id', '=', onlyId);
    if (page.cursor) query = query.where('id', '<', decodeCursor(page.cursor));
    return toPage(await query.execute(), page.limit, toWorkspace);
  }

  /** How many workspaces exist. */
  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('workspaces')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
}
