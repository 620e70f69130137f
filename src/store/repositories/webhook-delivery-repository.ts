import type { Kysely } from 'kysely';
import { nowIso } from '../../ids.js';
import type { Page } from '../../types.js';
import type { Database, WebhookAttemptRow, WebhookDeliveryRow } from '../database-schema.js';
import { decodeCursor, type PageRequest, toPage } from '../pagination.js';
import { inTransaction, type StoreDialect } from '../store-dialect.js';
import { ensureSigningSecret } from './webhook-repository.js';

/**
 * The webhook outbox: deliveries (queued by the trigger of migration 0005, never by code) and
 * their attempts. A claim holds a delivery under a lease by pushing its `next_attempt_at` to the
 * lease's end, so a delivery whose sender died is simply due again then; every write after the
 * send is guarded by the lease owner and attempt number.
 */

/** States of a delivery: `pending` until `delivered`, `failed` (attempts used up) or `cancelled`. */
export const DELIVERY_STATUSES = Object.freeze(['pending', 'delivered', 'failed', 'cancelled'] as const);

/** One delivery state. */
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** A delivery claimed for one attempt, with everything needed to send it. */
export interface ClaimedDelivery {
  id: string;
  workspace_id: string;
  webhook_id: string | null;
  execution_id: string;
  event_type: string;
  /** The number of this attempt (1-based). */
  attempt: number;
  url: string;
  /** Secrets to sign with (`whsec_…`): one, or two for a while after a rotation. */
  secrets: string[];
  /** The exact body to send: `{type, timestamp, data}`. */
  payload: string;
}

/** How one attempt ended. */
export interface AttemptOutcome {
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  startedAt: string;
}

/** What happens to a delivery after an attempt: done, or due again at `nextAttemptAt`. */
export type DeliveryNext =
  | { status: 'delivered' | 'failed'; completedAt: string }
  | { status: 'pending'; nextAttemptAt: number };

/** An attempt as the delivery log shows it. */
export interface DeliveryAttempt {
  attempt: number;
  url: string;
  status_code: number | null;
  latency_ms: number | null;
  error: string | null;
  started_at: string;
}

/** A delivery as the API shows it. */
export interface Delivery {
  id: string;
  webhook_id: string | null;
  execution_id: string;
  event_id: string;
  event_type: string;
  url: string | null;
  status: DeliveryStatus;
  next_attempt_at: string | null;
  created_at: string;
  completed_at: string | null;
  payload: Record<string, unknown> | null;
  attempts: DeliveryAttempt[];
}

/** Which deliveries a list shows (always of one workspace). */
export interface DeliveryFilter {
  webhookId?: string | undefined;
  executionId?: string | undefined;
  status?: DeliveryStatus | undefined;
}

/** The body of a delivery: built from the event row, so every retry sends the same bytes. */
export function deliveryPayload(type: string, timestamp: string, data: string): string {
  return `{"type":${JSON.stringify(type)},"timestamp":${JSON.stringify(timestamp)},"data":${data}}`;
}

/** What an attempt that its sender never finished is recorded as. */
export const LOST_ATTEMPT_ERROR = 'lost: the process sending it stopped before recording an answer (lease expired)';

type DueRow = Pick<
  WebhookDeliveryRow,
  'id' | 'workspace_id' | 'webhook_id' | 'execution_id' | 'event_type' | 'attempts' | 'lease_owner' | 'attempted_at'
> & {
  target_url: string | null;
  webhook_secret: string | null;
  webhook_enabled: number | null;
  event_at: string | null;
  event_data: string | null;
};

export class WebhookDeliveryRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /**
   * Claims up to `limit` due deliveries for `owner` until `leaseUntil`. A due delivery still
   * leased to someone was lost with its sender: that attempt is recorded as lost. Deliveries of a
   * subscription that is gone or disabled are cancelled; one whose attempts are used up fails.
   * On PostgreSQL concurrent claimers skip each other's rows. `newSecret` makes the workspace's
   * signing secret the first time a `webhook_url` delivery needs it.
   */
  claimDue(
    owner: string,
    now: number,
    leaseUntil: number,
    limit: number,
    maxAttempts: number,
    newSecret: () => string,
  ): Promise<ClaimedDelivery[]> {
    return inTransaction(this.db, async (trx) => {
      let query = trx
        .selectFrom('webhook_deliveries as d')
        .leftJoin('webhooks as w', 'w.id', 'd.webhook_id')
        .leftJoin('execution_events as ev', 'ev.id', 'd.event_id')
        .select(['d.id', 'd.workspace_id', 'd.webhook_id', 'd.execution_id', 'd.event_type', 'd.attempts'])
        .select(['d.lease_owner', 'd.attempted_at', 'ev.created_at as event_at', 'ev.data as event_data'])
        .select(['w.secret as webhook_secret', 'w.enabled as webhook_enabled'])
        .select((eb) => eb.fn.coalesce('w.url', 'd.url').as('target_url'))
        .where('d.status', '=', 'pending')
        .where('d.next_attempt_at', '<=', now)
        .orderBy('d.next_attempt_at')
        .limit(limit);
      if (this.dialect.name === 'postgres') query = query.forUpdate(['d']).skipLocked();
      const due: DueRow[] = await query.execute();
      if (due.length === 0) return [];
      const at = nowIso();
      const lost = due.filter((row) => row.lease_owner !== null);
      if (lost.length > 0) {
        await trx
          .insertInto('webhook_attempts')
          .values(lost.map((row) => lostAttempt(row, at)))
          .onConflict((conflict) => conflict.columns(['delivery_id', 'attempt']).doNothing())
          .execute();
      }
      const claimable: DueRow[] = [];
      for (const row of due) {
        const gone = row.webhook_id !== null && Number(row.webhook_enabled ?? 0) !== 1;
        if (gone || row.target_url === null || row.event_data === null || row.attempts >= maxAttempts) {
          await this.#close(trx, row.id, gone ? 'cancelled' : 'failed', at);
        } else claimable.push(row);
      }
      if (claimable.length === 0) return [];
      await trx
        .updateTable('webhook_deliveries')
        .set((eb) => ({
          attempts: eb('attempts', '+', 1),
          lease_owner: owner,
          next_attempt_at: leaseUntil,
          attempted_at: at,
        }))
        .where(
          'id',
          'in',
          claimable.map((row) => row.id),
        )
        .execute();
      const signing = new Map<string, string[]>();
      for (const row of claimable) {
        if (row.webhook_id === null && !signing.has(row.workspace_id)) {
          const secret = await ensureSigningSecret(trx, row.workspace_id, newSecret());
          const previousValid =
            secret.previous_secret !== null && (secret.previous_expires_at ?? '') > new Date(now).toISOString();
          signing.set(
            row.workspace_id,
            previousValid ? [secret.secret, secret.previous_secret ?? ''] : [secret.secret],
          );
        }
      }
      return claimable.map((row) => ({
        id: row.id,
        workspace_id: row.workspace_id,
        webhook_id: row.webhook_id,
        execution_id: row.execution_id,
        event_type: row.event_type,
        attempt: Number(row.attempts) + 1,
        url: row.target_url ?? '',
        secrets: row.webhook_id === null ? (signing.get(row.workspace_id) ?? []) : [row.webhook_secret ?? ''],
        payload: deliveryPayload(row.event_type, row.event_at ?? at, row.event_data ?? 'null'),
      }));
    });
  }

  /**
   * Records an attempt and moves its delivery on, if `owner` still holds it for this attempt;
   * returns false when the lease was lost. The attempt is recorded all the same (replacing the
   * `lost` entry another claimer may have written for it), unless the delivery is gone.
   */
  finish(delivery: ClaimedDelivery, owner: string, outcome: AttemptOutcome, next: DeliveryNext): Promise<boolean> {
    return inTransaction(this.db, async (trx) => {
      const attempt: WebhookAttemptRow = {
        delivery_id: delivery.id,
        attempt: delivery.attempt,
        workspace_id: delivery.workspace_id,
        url: delivery.url,
        status_code: outcome.statusCode,
        latency_ms: outcome.latencyMs,
        error: outcome.error,
        started_at: outcome.startedAt,
      };
      const result = await trx
        .updateTable('webhook_deliveries')
        .set(
          next.status === 'pending'
            ? { status: 'pending', lease_owner: null, next_attempt_at: next.nextAttemptAt }
            : { status: next.status, lease_owner: null, next_attempt_at: null, completed_at: next.completedAt },
        )
        .where('id', '=', delivery.id)
        .where('status', '=', 'pending')
        .where('lease_owner', '=', owner)
        .where('attempts', '=', delivery.attempt)
        .executeTakeFirst();
      const kept = Number(result.numUpdatedRows) > 0;
      // A delivery deleted meanwhile (its subscription was) keeps no attempt either.
      const exists =
        kept ||
        (await trx.selectFrom('webhook_deliveries').select('id').where('id', '=', delivery.id).executeTakeFirst()) !==
          undefined;
      if (exists) {
        await trx
          .insertInto('webhook_attempts')
          .values(attempt)
          .onConflict((conflict) =>
            conflict.columns(['delivery_id', 'attempt']).doUpdateSet({
              status_code: attempt.status_code,
              latency_ms: attempt.latency_ms,
              error: attempt.error,
            }),
          )
          .execute();
      }
      return kept;
    });
  }

  /** When the earliest pending delivery is due (or its lease ends), epoch ms. */
  async nextDueAt(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.min('next_attempt_at').as('next'))
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return row?.next === null || row?.next === undefined ? undefined : Number(row.next);
  }

  /** Cancels the pending deliveries of a subscription (disabled); returns how many. */
  async cancelPending(workspaceId: string, webhookId: string): Promise<number> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'cancelled', lease_owner: null, next_attempt_at: null, completed_at: nowIso() })
      .where('workspace_id', '=', workspaceId)
      .where('webhook_id', '=', webhookId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Deletes every delivery and attempt of a subscription (deleted). */
  async deleteForWebhook(workspaceId: string, webhookId: string): Promise<void> {
    const ids = this.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('workspace_id', '=', workspaceId)
      .where('webhook_id', '=', webhookId);
    await this.db.deleteFrom('webhook_attempts').where('delivery_id', 'in', ids).execute();
    await this.db
      .deleteFrom('webhook_deliveries')
      .where('workspace_id', '=', workspaceId)
      .where('webhook_id', '=', webhookId)
      .execute();
  }

  /** Deliveries of a workspace (of one subscription or execution), newest first, with attempts. */
  async list(workspaceId: string, filter: DeliveryFilter, page: PageRequest): Promise<Page<Delivery>> {
    let query = this.db
      .selectFrom('webhook_deliveries as d')
      .leftJoin('webhooks as w', 'w.id', 'd.webhook_id')
      .leftJoin('execution_events as ev', 'ev.id', 'd.event_id')
      .selectAll('d')
      .select((eb) => eb.fn.coalesce('w.url', 'd.url').as('target_url'))
      .select(['ev.created_at as event_at', 'ev.data as event_data'])
      .where('d.workspace_id', '=', workspaceId)
      .orderBy('d.id', 'desc')
      .limit(page.limit + 1);
    if (filter.webhookId !== undefined) query = query.where('d.webhook_id', '=', filter.webhookId);
    if (filter.executionId !== undefined) query = query.where('d.execution_id', '=', filter.executionId);
    if (filter.status !== undefined) query = query.where('d.status', '=', filter.status);
    if (page.cursor) query = query.where('d.id', '<', decodeCursor(page.cursor));
    const rows = await query.execute();
    const ids = rows.slice(0, page.limit).map((row) => row.id);
    const attempts =
      ids.length === 0
        ? []
        : await this.db
            .selectFrom('webhook_attempts')
            .selectAll()
            .where('delivery_id', 'in', ids)
            .orderBy('delivery_id')
            .orderBy('attempt')
            .execute();
    const byDelivery = new Map<string, DeliveryAttempt[]>();
    for (const row of attempts) {
      const list = byDelivery.get(row.delivery_id) ?? [];
      list.push({
        attempt: Number(row.attempt),
        url: row.url,
        status_code: row.status_code === null ? null : Number(row.status_code),
        latency_ms: row.latency_ms === null ? null : Number(row.latency_ms),
        error: row.error,
        started_at: row.started_at,
      });
      byDelivery.set(row.delivery_id, list);
    }
    return toPage(rows, page.limit, (row) => ({
      id: row.id,
      webhook_id: row.webhook_id,
      execution_id: row.execution_id,
      event_id: row.event_id,
      event_type: row.event_type,
      url: row.target_url,
      status: row.status as DeliveryStatus,
      next_attempt_at:
        row.status === 'pending' && row.next_attempt_at !== null
          ? new Date(Math.max(Number(row.next_attempt_at), 0)).toISOString()
          : null,
      created_at: row.created_at,
      completed_at: row.completed_at,
      payload:
        row.event_data === null
          ? null
          : (JSON.parse(deliveryPayload(row.event_type, row.event_at ?? row.created_at, row.event_data)) as Record<
              string,
              unknown
            >),
      attempts: byDelivery.get(row.id) ?? [],
    }));
  }

  async #close(trx: Kysely<Database>, id: string, status: 'failed' | 'cancelled', at: string): Promise<void> {
    await trx
      .updateTable('webhook_deliveries')
      .set({ status, lease_owner: null, next_attempt_at: null, completed_at: at })
      .where('id', '=', id)
      .execute();
  }
}

function lostAttempt(row: DueRow, at: string): WebhookAttemptRow {
  return {
    delivery_id: row.id,
    attempt: Number(row.attempts),
    workspace_id: row.workspace_id,
    url: row.target_url ?? '',
    status_code: null,
    latency_ms: null,
    error: LOST_ATTEMPT_ERROR,
    started_at: row.attempted_at ?? at,
  };
}
