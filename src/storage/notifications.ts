// Notification deliveries as durable work: one row per message and channel, claimed under a lease,
// retried with stored backoff, and given up (state `failed`) when its channel keeps failing — never
// retried forever. A channel's health is its own row, so a receiver that is down is reported once.
import type { Db } from './db.js';
import { StorageError } from './errors.js';

export interface NotificationInput {
  tenantId: string;
  channel: string;
  /** Stable per message: the same event enqueued twice is one delivery (and one Standard Webhooks id). */
  messageId: string;
  event: string;
  leadId?: string | undefined;
  payload: string;
}

export interface Delivery extends NotificationInput {
  id: number;
  attempts: number;
  createdAt: number;
}

export interface ChannelHealth {
  tenantId: string;
  channel: string;
  state: 'ok' | 'failing';
  failingSince: number | null;
  lastError: string | null;
}

interface DeliveryRow {
  id: number;
  tenant_id: string;
  channel: string;
  message_id: string;
  event: string;
  lead_id: string | null;
  payload: string;
  attempts: number;
  created_at: number;
}

const toDelivery = (r: DeliveryRow): Delivery => ({
  id: Number(r.id),
  tenantId: r.tenant_id,
  channel: r.channel,
  messageId: r.message_id,
  event: r.event,
  leadId: r.lead_id ?? undefined,
  payload: r.payload,
  attempts: Number(r.attempts),
  createdAt: Number(r.created_at),
});

const DUE = "state = 'pending' AND run_after <= ? AND (lease_until IS NULL OR lease_until <= ?)";

/**
 * The one way a notification is recorded, on `tx`: inside the transaction that records what it is about
 * (a decision, a dead letter, an SLA step), so the event and its notification are committed together or not at all;
 * the worker sends it later. One already recorded (same tenant, channel and message id) is left as it
 * is. Returns how many were new.
 */
export async function insertNotificationsWith(
  tx: Db,
  items: readonly NotificationInput[],
  now: number,
): Promise<number> {
  let added = 0;
  for (const n of items) {
    if (n.channel === '' || n.messageId === '')
      throw new StorageError('invalid', 'a delivery needs a channel and a message id');
    const r = await tx.run(
      `INSERT INTO notifications (tenant_id, channel, message_id, event, lead_id, payload, state, attempts,
         run_after, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [n.tenantId, n.channel, n.messageId, n.event, n.leadId, n.payload, now, now, now],
    );
    added += r.changes;
  }
  return added;
}

/**
 * Withdraws, on `tx`, the tenant's deliveries of the messages `messageIds` that no sender holds and none
 * has delivered: they end `failed` with `withdrawn: <reason>` (kept, then purged, like any failed one).
 * One a sender holds under its lease is left to it. Returns how many were withdrawn.
 */
export async function withdrawNotificationsWith(
  tx: Db,
  tenantId: string,
  messageIds: readonly string[],
  reason: string,
  now: number,
): Promise<number> {
  if (messageIds.length === 0) return 0;
  const r = await tx.run(
    `UPDATE notifications SET state = 'failed', last_error = ?, lease_owner = NULL, lease_until = NULL,
       updated_at = ?
     WHERE tenant_id = ? AND message_id IN (${messageIds.map(() => '?').join(', ')})
       AND state = 'pending' AND (lease_until IS NULL OR lease_until <= ?)`,
    [`withdrawn: ${reason}`, now, tenantId, ...messageIds, now],
  );
  return r.changes;
}

export class NotificationRepository {
  constructor(private readonly db: Db) {}

  /** Leases due deliveries (any tenant) to `holder`; a row another holder leases is skipped. */
  async claimDue(holder: string, now: number, leaseUntil: number, limit: number): Promise<Delivery[]> {
    const rows = await this.db.all<DeliveryRow>(
      `WITH picked AS MATERIALIZED (
         SELECT id AS picked_id FROM notifications WHERE ${DUE} ORDER BY run_after, id LIMIT ?${this.db.dialect.claimLock})
       UPDATE notifications SET lease_owner = ?, lease_until = ?, updated_at = ?
       FROM picked WHERE notifications.id = picked.picked_id AND ${DUE}
       RETURNING id, tenant_id, channel, message_id, event, lead_id, payload, attempts, created_at`,
      [now, now, limit, holder, leaseUntil, now, now, now],
    );
    return rows.map(toDelivery).sort((a, b) => a.id - b.id);
  }

  /** The receiver took it: delivered, and its channel is healthy. */
  async delivered(d: Delivery, holder: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE notifications SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL,
         lease_owner = NULL, lease_until = NULL, updated_at = ?
       WHERE id = ? AND lease_owner = ? AND state = 'pending'`,
      [now, now, d.id, holder],
    );
    await this.setChannel(d.tenantId, d.channel, 'ok', null, now);
    return r.changes === 1;
  }

  /**
   * The receiver refused or was unreachable: tried again at `runAfter`, or — `giveUp` — failed for good.
   * Either way the channel is failing from the first failure on, until a delivery succeeds. Returns the
   * channel's health as it is now.
   */
  async failed(
    d: Delivery,
    holder: string,
    error: string,
    next: { runAfter: number } | { giveUp: true },
    now: number,
  ): Promise<ChannelHealth> {
    const giveUp = 'giveUp' in next;
    await this.db.run(
      `UPDATE notifications SET state = ?, attempts = attempts + 1, run_after = ?, last_error = ?,
         lease_owner = NULL, lease_until = NULL, updated_at = ?
       WHERE id = ? AND lease_owner = ? AND state = 'pending'`,
      [giveUp ? 'failed' : 'pending', giveUp ? now : next.runAfter, error, now, d.id, holder],
    );
    return this.setChannel(d.tenantId, d.channel, 'failing', error, now);
  }

  private async setChannel(
    tenantId: string,
    channel: string,
    state: 'ok' | 'failing',
    error: string | null,
    now: number,
  ): Promise<ChannelHealth> {
    await this.db.run(
      `INSERT INTO notification_channels (tenant_id, channel, state, failing_since, last_error, updated_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, channel) DO UPDATE SET state = excluded.state, last_error = excluded.last_error,
         updated_at = excluded.updated_at,
         failing_since = CASE WHEN excluded.state = 'ok' THEN NULL
                              ELSE COALESCE(notification_channels.failing_since, excluded.failing_since) END`,
      [tenantId, channel, state, state === 'failing' ? now : null, error, now],
    );
    return (await this.channel(tenantId, channel))!;
  }

  async channel(tenantId: string, channel: string): Promise<ChannelHealth | undefined> {
    const r = await this.db.get<{
      state: 'ok' | 'failing';
      failing_since: number | null;
      last_error: string | null;
    }>(
      'SELECT state, failing_since, last_error FROM notification_channels WHERE tenant_id = ? AND channel = ?',
      [tenantId, channel],
    );
    return r === undefined
      ? undefined
      : {
          tenantId,
          channel,
          state: r.state,
          failingSince: r.failing_since === null ? null : Number(r.failing_since),
          lastError: r.last_error,
        };
  }

  /** Deliveries of a tenant, oldest first (tests, the settings page). */
  async deliveries(
    tenantId: string,
  ): Promise<(Delivery & { state: string; deliveredAt: number | null; lastError: string | null })[]> {
    const rows = await this.db.all<
      DeliveryRow & { state: string; delivered_at: number | null; last_error: string | null }
    >(
      `SELECT id, tenant_id, channel, message_id, event, lead_id, payload, attempts, created_at, state, delivered_at,
         last_error FROM notifications WHERE tenant_id = ? ORDER BY id`,
      [tenantId],
    );
    return rows.map((r) => ({
      ...toDelivery(r),
      state: r.state,
      deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
      lastError: r.last_error,
    }));
  }
}
