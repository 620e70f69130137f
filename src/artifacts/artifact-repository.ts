import type { Kysely } from 'kysely';
import type { Database } from '../store/database-schema.js';
import { decodeCursor, encodeCursor, type PageRequest } from '../store/pagination.js';
import type { Page } from '../types.js';

/**
 * Rows of `artifacts` (migration 0014): what is known of each file of an execution. The bytes are
 * in the artifact storage under `storage_key`; this table is the truth of which files exist.
 */

/** An artifact as stored. `size` may come back from PostgreSQL as a string (bigint). */
export interface ArtifactRow {
  execution_id: string;
  name: string;
  workspace_id: string;
  step_id: string | null;
  size: number | string;
  content_type: string;
  sha256: string;
  storage_key: string;
  created_at: string;
}

/** An artifact as the API shows it (SPEC §3.1). */
export interface ArtifactView {
  name: string;
  size: number;
  content_type: string;
  sha256: string;
  step_id: string | null;
  created_at: string;
}

/** The API view of a row. */
export function artifactView(row: ArtifactRow): ArtifactView {
  return {
    name: row.name,
    size: Number(row.size),
    content_type: row.content_type,
    sha256: row.sha256,
    step_id: row.step_id,
    created_at: row.created_at,
  };
}

export class ArtifactRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The artifact `name` of an execution, if any. */
  get(executionId: string, name: string): Promise<ArtifactRow | undefined> {
    return this.db
      .selectFrom('artifacts')
      .selectAll()
      .where('execution_id', '=', executionId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  /** Stores a row, replacing the one of the same name; returns the replaced row (its file is now unreferenced). */
  async upsert(row: ArtifactRow): Promise<ArtifactRow | undefined> {
    const replaced = await this.get(row.execution_id, row.name);
    if (replaced) {
      const { execution_id: _execution, name: _name, ...changes } = row;
      await this.db
        .updateTable('artifacts')
        .set(changes)
        .where('execution_id', '=', row.execution_id)
        .where('name', '=', row.name)
        .execute();
    } else {
      await this.db.insertInto('artifacts').values(row).execute();
    }
    return replaced;
  }

  /** Puts a deleted row back unless the name was uploaded again meanwhile (that upload wins). */
  async restore(row: ArtifactRow): Promise<void> {
    await this.db
      .insertInto('artifacts')
      .values(row)
      .onConflict((conflict) => conflict.columns(['execution_id', 'name']).doNothing())
      .execute();
  }

  /** Deletes the row of `name`; returns it, or undefined when there was none. */
  async remove(executionId: string, name: string): Promise<ArtifactRow | undefined> {
    const row = await this.get(executionId, name);
    if (!row) return undefined;
    await this.db
      .deleteFrom('artifacts')
      .where('execution_id', '=', executionId)
      .where('name', '=', name)
      .where('storage_key', '=', row.storage_key)
      .execute();
    return row;
  }

  /** Artifacts of an execution by name, in cursor pages. */
  async list(executionId: string, page: PageRequest): Promise<Page<ArtifactRow>> {
    const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
    let query = this.db.selectFrom('artifacts').selectAll().where('execution_id', '=', executionId);
    if (after !== undefined) query = query.where('name', '>', after);
    const rows = await query
      .orderBy('name')
      .limit(page.limit + 1)
      .execute();
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return { items, next_cursor: rows.length > page.limit && last ? encodeCursor(last.name) : null };
  }

  /** Every artifact of an execution (cleanup), by name. */
  all(executionId: string): Promise<ArtifactRow[]> {
    return this.db
      .selectFrom('artifacts')
      .selectAll()
      .where('execution_id', '=', executionId)
      .orderBy('name')
      .execute();
  }
}
