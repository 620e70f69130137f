import type { Kysely } from 'kysely';
import { newId, nowIso } from '../../ids.js';
import type { Page } from '../../types.js';
import type { Database, WebhookRow, WebhookSigningSecretRow } from '../database-schema.js';
import { decodeCursor, type PageRequest, toPage } from '../pagination.js';

/** A webhook subscription as the API shows it (never with its secret). */
export interface Webhook {
  id: string;
  workspace_id: string;
  url: string;
  description: string | null;
  /** Event types it receives; `[]` or `['*']` means all. */
  event_types: string[];
  enabled: boolean;
  created_at: string;
  updated_at: string;
}

/** What `PATCH /webhooks/{id}` may change. */
export interface WebhookPatch {
  url?: string | undefined;
  description?: string | null | undefined;
  event_types?: string[] | undefined;
  enabled?: boolean | undefined;
}

function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    workspace_id: row.workspace_id,
    url: row.url,
    description: row.description,
    event_types: JSON.parse(row.event_types) as string[],
    enabled: Number(row.enabled) === 1,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/**
 * Webhook subscriptions and the workspace's signing secret for `webhook_url` deliveries. The
 * outbox trigger (migration 0005) reads `webhooks` directly: `event_types` is stored as a JSON
 * array in a canonical form (`JSON.stringify`), so `'[]'` compares as text.
 */
export class WebhookRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Creates a subscription with its secret. */
  async create(input: {
    workspaceId: string;
    url: string;
    description: string | null;
    eventTypes: string[];
    enabled: boolean;
    secret: string;
  }): Promise<Webhook> {
    const now = nowIso();
    const row: WebhookRow = {
      id: newId('wh'),
      workspace_id: input.workspaceId,
      url: input.url,
      description: input.description,
      event_types: JSON.stringify(input.eventTypes),
      enabled: input.enabled ? 1 : 0,
      secret: input.secret,
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto('webhooks').values(row).execute();
    return toWebhook(row);
  }

  /** Subscriptions of a workspace, newest first. */
  async list(workspaceId: string, page: PageRequest): Promise<Page<Webhook>> {
    let query = this.db
      .selectFrom('webhooks')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('id', 'desc')
      .limit(page.limit + 1);
    if (page.cursor) query = query.where('id', '<', decodeCursor(page.cursor));
    return toPage(await query.execute(), page.limit, toWebhook);
  }

  /** One subscription of a workspace. */
  async get(workspaceId: string, id: string): Promise<Webhook | undefined> {
    const row = await this.db
      .selectFrom('webhooks')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toWebhook(row) : undefined;
  }

  /** Applies a PATCH; undefined when there is no such subscription in the workspace. */
  async update(workspaceId: string, id: string, changes: WebhookPatch): Promise<Webhook | undefined> {
    const set: Partial<WebhookRow> = { updated_at: nowIso() };
    if (changes.url !== undefined) set.url = changes.url;
    if (changes.description !== undefined) set.description = changes.description;
    if (changes.event_types !== undefined) set.event_types = JSON.stringify(changes.event_types);
    if (changes.enabled !== undefined) set.enabled = changes.enabled ? 1 : 0;
    const result = await this.db
      .updateTable('webhooks')
      .set(set)
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return undefined;
    return this.get(workspaceId, id);
  }

  /** Deletes a subscription; false when there is no such subscription in the workspace. */
  async delete(workspaceId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('webhooks')
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** The workspace's signing secret for `webhook_url` deliveries, created from `candidate` if none. */
  signingSecret(workspaceId: string, candidate: string): Promise<WebhookSigningSecretRow> {
    return ensureSigningSecret(this.db, workspaceId, candidate);
  }

  /**
   * Replaces the workspace's signing secret with `secret`; the old one keeps signing (as a second
   * signature) until `previousExpiresAt`, so receivers can switch without losing deliveries.
   */
  async rotateSigningSecret(
    workspaceId: string,
    secret: string,
    previousExpiresAt: string,
  ): Promise<WebhookSigningSecretRow> {
    const current = await this.signingSecret(workspaceId, secret);
    if (current.secret === secret) return current;
    await this.db
      .updateTable('webhook_signing_secrets')
      .set({
        secret,
        previous_secret: current.secret,
        previous_expires_at: previousExpiresAt,
        rotated_at: nowIso(),
      })
      .where('workspace_id', '=', workspaceId)
      .execute();
    return (await signingSecretRow(this.db, workspaceId)) ?? current;
  }
}

function signingSecretRow(db: Kysely<Database>, workspaceId: string): Promise<WebhookSigningSecretRow | undefined> {
  return db
    .selectFrom('webhook_signing_secrets')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
}

/**
 * The workspace's signing secret, created from `candidate` the first time it is needed
 * (concurrent first uses agree on one). Shared with the outbox's claim, which runs it in its own
 * transaction.
 */
export async function ensureSigningSecret(
  db: Kysely<Database>,
  workspaceId: string,
  candidate: string,
): Promise<WebhookSigningSecretRow> {
  const existing = await signingSecretRow(db, workspaceId);
  if (existing) return existing;
  await db
    .insertInto('webhook_signing_secrets')
    .values({
      workspace_id: workspaceId,
      secret: candidate,
      previous_secret: null,
      previous_expires_at: null,
      created_at: nowIso(),
      rotated_at: null,
    })
    .onConflict((conflict) => conflict.column('workspace_id').doNothing())
    .execute();
  const created = await signingSecretRow(db, workspaceId);
  if (!created) throw new Error(`the signing secret of workspace ${workspaceId} was not stored`);
  return created;
}
