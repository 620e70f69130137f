import type { FastifyBaseLogger } from 'fastify';
import type { TriggerDefinition } from '../definition/definition-schema.js';
import type { Engine } from '../engine/engine.js';
import { insertExecutions } from '../engine/lifecycle.js';
import { WeftError } from '../errors.js';
import { nowIso } from '../ids.js';
import type { ScheduleRow } from '../store/database-schema.js';
import type { Store } from '../store/store.js';
import { nextFireAt, prepareTriggeredStart } from './triggers.js';

/**
 * Cron schedules (SPEC §1 triggers with `cron`). Every process runs a scheduler; a fire is one
 * transaction that locks the due schedule (SKIP LOCKED on PostgreSQL, so one process takes it),
 * moves it to its next time after now and inserts the execution, so each fire happens once —
 * across processes and restarts. A fire missed while no process ran happens once on start (the
 * next time is computed from now, not from the missed time).
 */

/** Scheduler settings. */
export interface SchedulerOptions {
  store: Store;
  engine: Pick<Engine, 'wake'>;
  logger: FastifyBaseLogger;
  /** Longest sleep between looks at the schedules table (it also sleeps until the next fire). */
  pollMs: number;
}

export class Scheduler {
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #running: Promise<void> | undefined;

  constructor(private readonly options: SchedulerOptions) {}

  /** Starts firing due schedules. */
  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops; a fire in progress completes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => {
        this.#running = undefined;
      });
    }, delayMs);
  }

  async #tick(): Promise<void> {
    let wait = this.options.pollMs;
    try {
      // One read when nothing is due (every poll of an idle process); the locking transaction
      // only when a fire is.
      let next = await this.options.store.triggers.nextDue();
      const now = Date.now();
      if (next !== undefined && next <= now) {
        const fired = await this.fireDue(now);
        if (fired > 0) this.options.engine.wake();
        next = await this.options.store.triggers.nextDue();
      }
      if (next !== undefined) wait = Math.max(0, Math.min(wait, next - Date.now()));
    } catch (error) {
      this.options.logger.error({ err: error }, 'firing schedules failed; retrying at the next poll');
    }
    this.#schedule(wait);
  }

  /** Fires every schedule due at `now`; returns how many executions started. */
  async fireDue(now: number): Promise<number> {
    let started = 0;
    for (;;) {
      const fired = await this.options.store.transaction(async (tx) => {
        const due = await tx.triggers.lockDue(now, 20);
        let count = 0;
        for (const schedule of due) count += await this.#fire(tx, schedule, now);
        return { due: due.length, count };
      });
      started += fired.count;
      if (fired.due < 20) return started;
    }
  }

  async #fire(tx: Store, schedule: ScheduleRow, now: number): Promise<number> {
    const next = nextFireAt(schedule.cron, schedule.timezone, now) ?? Number.MAX_SAFE_INTEGER;
    const firedAt = nowIso();
    if (!(await tx.triggers.advance(schedule, next, firedAt))) return 0;
    const workflow = await tx.workflows.get(schedule.workspace_id, schedule.workflow_id);
    if (!workflow?.enabled) return 0;
    const trigger = (workflow.definition.triggers as TriggerDefinition[] | undefined)?.[schedule.trigger_index];
    const scheduledFor = new Date(schedule.next_fire_at).toISOString();
    try {
      const prepared = await prepareTriggeredStart(tx, workflow, trigger?.input ?? {}, {
        type: 'schedule',
        trigger_index: schedule.trigger_index,
        cron: schedule.cron,
        timezone: schedule.timezone,
        scheduled_for: scheduledFor,
      });
      await insertExecutions(tx, [prepared]);
      return 1;
    } catch (error) {
      // A schedule whose input no longer fits the workflow's input_schema: the fire is skipped
      // (and logged), the schedule goes on.
      if (!(error instanceof WeftError)) throw error;
      this.options.logger.warn(
        { err: error, workflow: workflow.id, trigger: schedule.trigger_index, scheduledFor },
        'a scheduled start was rejected',
      );
      return 0;
    }
  }
}
