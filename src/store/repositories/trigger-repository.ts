import { type Kysely, sql } from 'kysely';
import type { Database, ScheduleRow } from '../database-schema.js';
import { inTransaction, type StoreDialect } from '../store-dialect.js';

/** What a workflow's latest definition asks for: its event triggers and its schedules. */
export interface WorkflowTriggers {
  events: Array<{ index: number; eventType: string }>;
  schedules: Array<{ index: number; cron: string; timezone: string; nextFireAt: number }>;
}

/**
 * The trigger index of enabled workflows (`workflow_triggers`, `schedules`). It is rebuilt for a
 * workflow whenever its definition, `enabled` or deletion changes; a schedule whose cron and
 * time zone did not change keeps its next fire time.
 */
export class TriggerRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Replaces a workflow's triggers (none for a disabled or deleted workflow). */
  async replace(workspaceId: string, workflowId: string, wanted: WorkflowTriggers): Promise<void> {
    await inTransaction(this.db, async (trx) => {
      await trx.deleteFrom('workflow_triggers').where('workflow_id', '=', workflowId).execute();
      if (wanted.events.length > 0) {
        await trx
          .insertInto('workflow_triggers')
          .values(
            wanted.events.map((trigger) => ({
              workflow_id: workflowId,
              trigger_index: trigger.index,
              workspace_id: workspaceId,
              event_type: trigger.eventType,
            })),
          )
          .execute();
      }
      // Locked on PostgreSQL: a fire committing meanwhile moved next_fire_at, and a stale read
      // re-inserted here would fire that slot again.
      let read = trx.selectFrom('schedules').selectAll().where('workflow_id', '=', workflowId);
      if (this.dialect.name === 'postgres') read = read.forUpdate();
      const existing = await read.execute();
      const kept = new Map(existing.map((row) => [`${row.trigger_index}|${row.cron}|${row.timezone}`, row]));
      await trx.deleteFrom('schedules').where('workflow_id', '=', workflowId).execute();
      if (wanted.schedules.length > 0) {
        await trx
          .insertInto('schedules')
          .values(
            wanted.schedules.map((schedule) => {
              const previous = kept.get(`${schedule.index}|${schedule.cron}|${schedule.timezone}`);
              return {
                workflow_id: workflowId,
                trigger_index: schedule.index,
                workspace_id: workspaceId,
                cron: schedule.cron,
                timezone: schedule.timezone,
                next_fire_at: previous ? Number(previous.next_fire_at) : schedule.nextFireAt,
                last_fired_at: previous?.last_fired_at ?? null,
              };
            }),
          )
          .execute();
      }
    });
  }

  /** Workflows of the workspace with an event trigger for `eventType`, and which trigger. */
  eventTriggers(
    workspaceId: string,
    eventType: string,
  ): Promise<Array<{ workflow_id: string; trigger_index: number }>> {
    return this.db
      .selectFrom('workflow_triggers')
      .select(['workflow_id', 'trigger_index'])
      .where('workspace_id', '=', workspaceId)
      .where('event_type', '=', eventType)
      .orderBy('workflow_id')
      .orderBy('trigger_index')
      .execute();
  }

  /** The earliest next fire time of each of these workflows. */
  async nextFires(workflowIds: readonly string[]): Promise<Map<string, number>> {
    if (workflowIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('schedules')
      .select(['workflow_id', (eb) => eb.fn.min('next_fire_at').as('next')])
      .where('workflow_id', 'in', workflowIds)
      .groupBy('workflow_id')
      .execute();
    return new Map(rows.map((row) => [row.workflow_id, Number(row.next)]));
  }

  /** The earliest next fire time of any schedule. */
  async nextDue(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('schedules')
      .select((eb) => eb.fn.min('next_fire_at').as('next'))
      .executeTakeFirst();
    return row?.next === null || row?.next === undefined ? undefined : Number(row.next);
  }

  /**
   * Locks up to `limit` schedules due at `now` for this transaction; on PostgreSQL other
   * processes skip them, so each fire is taken by one process.
   */
  async lockDue(now: number, limit: number): Promise<ScheduleRow[]> {
    if (this.dialect.name === 'postgres') {
      const result = await sql<ScheduleRow>`
        select * from schedules where next_fire_at <= ${now}
        order by next_fire_at limit ${limit} for update skip locked`.execute(this.db);
      return result.rows.map((row) => ({ ...row, next_fire_at: Number(row.next_fire_at) }));
    }
    const rows = await this.db
      .selectFrom('schedules')
      .selectAll()
      .where('next_fire_at', '<=', now)
      .orderBy('next_fire_at')
      .limit(limit)
      .execute();
    return rows.map((row) => ({ ...row, next_fire_at: Number(row.next_fire_at) }));
  }

  /** Moves a fired schedule to its next fire time, if nobody else did. */
  async advance(row: ScheduleRow, nextFireAt: number, firedAt: string): Promise<boolean> {
    const result = await this.db
      .updateTable('schedules')
      .set({ next_fire_at: nextFireAt, last_fired_at: firedAt })
      .where('workflow_id', '=', row.workflow_id)
      .where('trigger_index', '=', row.trigger_index)
      .where('next_fire_at', '=', row.next_fire_at)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
