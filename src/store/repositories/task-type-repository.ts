import type { Kysely } from 'kysely';
import type { Database, TaskTypeRow } from '../database-schema.js';

/** The task types a workspace declared for external workers (`PUT /task-types/{type}`). */
export class TaskTypeRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Creates or replaces a declaration; returns the stored row (keeping its creation time). */
  async upsert(row: TaskTypeRow): Promise<TaskTypeRow> {
    await this.db
      .insertInto('task_types')
      .values(row)
      .onConflict((conflict) =>
        conflict.columns(['workspace_id', 'type']).doUpdateSet({
          description: row.description,
          input_schema: row.input_schema,
          output_schema: row.output_schema,
          lease_seconds: row.lease_seconds,
          updated_at: row.updated_at,
        }),
      )
      .execute();
    return (await this.get(row.workspace_id, row.type)) ?? row;
  }

  /** One declared type of a workspace. */
  get(workspaceId: string, type: string): Promise<TaskTypeRow | undefined> {
    return this.db
      .selectFrom('task_types')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('type', '=', type)
      .executeTakeFirst();
  }

  /** Every declared type of a workspace, by name. */
  list(workspaceId: string): Promise<TaskTypeRow[]> {
    return this.db
      .selectFrom('task_types')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('type')
      .execute();
  }

  /** Lease lengths (seconds) of the named declared types of a workspace. */
  async leaseSeconds(workspaceId: string, types: readonly string[]): Promise<Map<string, number>> {
    if (types.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('task_types')
      .select(['type', 'lease_seconds'])
      .where('workspace_id', '=', workspaceId)
      .where('type', 'in', types)
      .execute();
    return new Map(rows.map((row) => [row.type, Number(row.lease_seconds)]));
  }
}
