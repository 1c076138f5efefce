// The inbox: events waiting to be routed. Enqueue is idempotent per event; a claim leases due rows of
// one tenant (taken in turn, live before bulk) to one worker; every transition is a compare-and-set on
// the row's state and lease holder; expired leases are reaped; dead letters wait for a replay.
import type { CrmEvent } from '../../connectors/connector.js';
import { PRIMARY_KEY, type Db } from './db.js';
import { StorageError } from './errors.js';
import { insertNotificationsWith, type NotificationInput } from './notifications.js';
import {
  crmEventSchema,
  DECIDED_AGAIN,
  firstDecisionKey,
  type ClaimOptions,
  type InboxItem,
  type InboxState,
  type InboxStats,
  type Provider,
  type QueueDepth,
  type WorkPriority,
  WORK_PRIORITIES,
} from './model.js';
import { chunk, WORKING_TENANT, KEY_CHUNK, marks, readJson, validate } from './shared.js';

interface InboxRow {
  id: number;
  tenant_id: string;
  payload: string;
  priority: number;
  state: InboxState;
  attempts: number;
  run_after: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

/** Rows per INSERT: 10 parameters each stays far below SQLite's 32,766 and PostgreSQL's 65,535. */
const ENQUEUE_CHUNK = 500;

/** Tenants a claim considers in turn before giving up: enough to get past those at their cap or locked. */
const TURN_CANDIDATES = 16;

const INBOX_COLUMNS =
  'id, tenant_id, payload, priority, state, attempts, run_after, lease_owner, lease_until, last_error, created_at, updated_at';

const toInbox = (r: InboxRow): InboxItem => ({
  id: r.id,
  tenantId: r.tenant_id,
  event: readJson(r.payload, `inbox.payload of row ${r.id}`, crmEventSchema),
  priority: Number(r.priority) === WORK_PRIORITIES.bulk ? 'bulk' : 'live',
  state: r.state,
  attempts: r.attempts,
  runAfter: r.run_after,
  leaseOwner: r.lease_owner,
  leaseUntil: r.lease_until,
  lastError: r.last_error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** An event `enqueue` recorded that the inbox did not hold yet. */
export interface EnqueuedEvent {
  tenantId: string;
  event: CrmEvent;
}

/** An item the reaper dead-lettered: what its notification says. */
export interface ReapedDeadLetter {
  tenantId: string;
  id: number;
  leadId: string;
  reason: string;
}

/** What a dead letter's replay did: queued it again, or why not (nothing changed then). */
export type ReplayOutcome =
  | { status: 'replayed' }
  /** No dead letter of the tenant has this id (never one, replayed already, or purged). */
  | { status: 'unknown' }
  /**
   * Its lead was routed again after it failed (`reason` says by which decision): a replay would resume
   * the older decision's writes over the newer one's, so it is closed rather than replayed.
   */
  | { status: 'superseded'; leadId: string; reason: string };

/** How the reason of a dead letter closed because its lead was routed again begins. */
export const SUPERSEDED = 'superseded: ';

/** A decision of a lead routed again after a dead letter of it: the one that closes the dead letter. */
export interface RoutedAgain {
  leadId: string;
  decisionKey: string;
  /** The owner it gave the lead (a rep's email, `queue <name>`), null for none. */
  owner: string | null;
}

/** Where a closed dead letter's reason goes on with why it had failed. */
const HAD_FAILED = '; it had failed: ';

const supersededReason = (by: Omit<RoutedAgain, 'leadId'>, failed: string | null): string =>
  `${SUPERSEDED}routed again by decision ${by.decisionKey}${by.owner === null ? '' : ` (to ${by.owner})`}` +
  (failed === null ? '' : `${HAD_FAILED}${failed}`);

/**
 * Closes the open dead letters of leads just routed again (`routedAgain`, the decisions committed in
 * `db`'s transaction): done, with a reason naming the decision, and their effect keys done, so neither a
 * replay nor a redelivered event resumes the older decision over the newer one. Returns their ids.
 */
export async function closeDeadLettersWith(
  db: Db,
  tenantId: string,
  routedAgain: readonly RoutedAgain[],
  now: number,
): Promise<number[]> {
  // The last decision of each lead names it (a batch may decide a lead twice: decided again).
  const byLead = new Map(routedAgain.map((r) => [r.leadId, r]));
  const closed: number[] = [];
  for (const part of chunk([...byLead.keys()], KEY_CHUNK)) {
    // Dead letters are few: one read per chunk of a burst's leads, a write only for those found.
    const dead = await db.all<{
      id: number;
      tenant_id: string;
      object_id: string;
      last_error: string | null;
    }>(
      `SELECT id, tenant_id, object_id, last_error FROM inbox
       WHERE state = 'failed' AND tenant_id = ? AND object_id IN (${marks(part.length)})`,
      [tenantId, ...part],
    );
    for (const row of dead) {
      const by = byLead.get(row.object_id);
      if (by !== undefined && (await closeWith(db, row, supersededReason(by, row.last_error), now)))
        closed.push(Number(row.id));
    }
  }
  return closed.sort((a, b) => a - b);
}

/**
 * A dead letter → done with `reason`, settled another way: the effect keys it claimed are done, and
 * what its decisions planned and never wrote is never written (failed with the reason), as for a lead
 * decided again.
 */
async function closeWith(
  db: Db,
  row: { id: number; tenant_id: string; object_id: string },
  reason: string,
  now: number,
): Promise<boolean> {
  const r = await db.run(
    `UPDATE inbox SET state = 'done', last_error = ?, updated_at = ? WHERE id = ? AND state = 'failed'`,
    [reason, now, row.id],
  );
  if (r.changes !== 1) return false;
  const own = await ownDecisionsWith(db, row);
  if (own.length > 0)
    await db.run(
      `UPDATE actions SET status = 'failed', error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
       WHERE tenant_id = ? AND status = 'planned' AND decision_key IN (${marks(own.length)})`,
      [`not written: ${reason.split(HAD_FAILED)[0]!}`, now, row.tenant_id, ...own.map((d) => d.decision_key)],
    );
  await db.run(
    `UPDATE effects${db.dialect.lookupBy('effects_inbox')} SET state = 'done', done_at = ?
     WHERE inbox_id = ? AND state = 'claimed'`,
    [now, row.id],
  );
  return true;
}

interface LeadDecisionRow {
  id: number;
  decision_key: string;
  owner: string | null;
}

/**
 * The decisions of the row's lead, oldest first, and which of them are the row's own: those of the
 * effect keys it claimed (decided again included).
 */
async function leadDecisionsWith(
  db: Db,
  row: { id: number; tenant_id: string; object_id: string },
): Promise<{ all: LeadDecisionRow[]; isOwn: (d: LeadDecisionRow) => boolean }> {
  const own = new Set(
    (
      await db.all<{ purpose: string }>(
        `SELECT purpose FROM effects WHERE tenant_id = ? AND lead_id = ? AND inbox_id = ?`,
        [row.tenant_id, row.object_id, row.id],
      )
    ).map((e) => `${row.object_id}:${e.purpose}`),
  );
  const all =
    own.size === 0
      ? []
      : await db.all<LeadDecisionRow>(
          `SELECT id, decision_key, owner FROM decisions WHERE tenant_id = ? AND lead_id = ? ORDER BY id`,
          [row.tenant_id, row.object_id],
        );
  return { all, isOwn: (d) => own.has(firstDecisionKey(d.decision_key)) };
}

async function ownDecisionsWith(
  db: Db,
  row: { id: number; tenant_id: string; object_id: string },
): Promise<LeadDecisionRow[]> {
  const { all, isOwn } = await leadDecisionsWith(db, row);
  return all.filter(isOwn);
}

/**
 * The latest decision of the row's lead made after the row's own last decision (those of the effect
 * keys it claimed, decided again included): another worker routed the lead again while the row was
 * worked (a re-route), so the row's decision is no longer the lead's to resume. A row that decided
 * nothing has none: what it failed before is not known to be older than any decision.
 */
async function routedSinceWith(
  db: Db,
  row: { id: number; tenant_id: string; object_id: string },
): Promise<Omit<RoutedAgain, 'leadId'> | null> {
  const { all, isOwn } = await leadDecisionsWith(db, row);
  const lastOwn = all.filter(isOwn).at(-1);
  if (lastOwn === undefined) return null;
  const latest = all.filter((d) => !isOwn(d) && Number(d.id) > Number(lastOwn.id)).at(-1);
  return latest === undefined ? null : { decisionKey: latest.decision_key, owner: latest.owner };
}

export class InboxRepository {
  constructor(private readonly db: Db) {}

  /**
   * Records events in one transaction and returns those that were new (in key order), so a caller can
   * tell which ones the inbox already held (a catch-up poll: what its stream did not deliver). A
   * redelivered event (same tenant, subscription and event id) is a no-op. Events are validated first:
   * one bad event changes nothing. Events are `live` unless said to be `bulk`.
   */
  async enqueue(
    items: readonly { tenantId: string; event: CrmEvent; priority?: WorkPriority | undefined }[],
    now: number,
  ): Promise<EnqueuedEvent[]> {
    const valid = items.map((item, i) => ({
      tenantId: item.tenantId,
      event: validate<CrmEvent>(crmEventSchema, item.event, `event ${i}`),
      priority: WORK_PRIORITIES[item.priority ?? 'live'],
    }));
    if (valid.some((v) => v.priority === undefined))
      throw new StorageError('invalid', 'an event priority is live or bulk');
    if (valid.length === 0) return [];
    // Concurrent deliveries can carry the same events in another order (HubSpot redelivers and
    // reorders): inserting in one key order makes them take the unique-index locks in one order, so
    // PostgreSQL never sees two intakes deadlock on each other.
    const key = (v: (typeof valid)[number]) =>
      `${v.tenantId}\u0000${v.event.subscription}\u0000${v.event.eventId}`;
    valid.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return this.db.transaction(async (tx) => {
      const added: EnqueuedEvent[] = [];
      // Multi-row inserts: a 10,000-contact import is 20 statements, not 10,000 round trips.
      for (let at = 0; at < valid.length; at += ENQUEUE_CHUNK) {
        const chunk = valid.slice(at, at + ENQUEUE_CHUNK);
        // RETURNING names only the rows inserted (both engines): the new events, without a second query.
        const rows = await tx.all<{ tenant_id: string; subscription: string; event_id: string }>(
          `INSERT INTO inbox (tenant_id, subscription, event_id, kind, object_id, payload, priority, state,
             attempts, run_after, created_at, updated_at)
           VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)").join(', ')}
           ON CONFLICT DO NOTHING
           RETURNING tenant_id, subscription, event_id`,
          chunk.flatMap(({ tenantId, event, priority }) => [
            tenantId,
            event.subscription,
            event.eventId,
            event.kind,
            event.objectId,
            JSON.stringify(event),
            priority,
            now,
            now,
            now,
          ]),
        );
        const inserted = new Set(rows.map((r) => `${r.tenant_id}\u0000${r.subscription}\u0000${r.event_id}`));
        for (const v of chunk)
          // A duplicate inside the batch was inserted once: taken once.
          if (inserted.delete(key(v))) added.push({ tenantId: v.tenantId, event: v.event });
      }
      return added;
    });
  }

  /**
   * Leases up to `limit` due rows of one tenant atomically, live work before bulk, oldest first;
   * concurrent claimers never get the same row. Without `tenantId` the tenant is taken in turn among
   * those with due work — the one served longest ago first — skipping a tenant another claimer is
   * claiming for right now (PostgreSQL) and one at `maxBatchesPerTenant` batches in flight.
   */
  async claim(options: ClaimOptions): Promise<InboxItem[]> {
    const { workerId, limit, leaseMs, now, maxBatchesPerTenant: cap } = options;
    if (!Number.isInteger(limit) || limit <= 0 || !(leaseMs > 0))
      throw new StorageError('invalid', 'claim needs an integer limit > 0 and leaseMs > 0');
    const checked = (n: number | undefined): number | undefined => {
      if (n !== undefined && (!Number.isInteger(n) || n <= 0))
        throw new StorageError('invalid', 'claim needs an integer maxBatchesPerTenant > 0');
      return n;
    };
    if (typeof cap !== 'function') checked(cap);
    const capOf = (provider: Provider) => checked(typeof cap === 'function' ? cap(provider) : cap);
    const lease = { workerId, limit, leaseMs, now };
    // One tenant asked for, no cap: a single statement, atomic by itself.
    if (options.tenantId !== undefined && cap === undefined)
      return this.claimOf(this.db, options.tenantId, lease);
    // Looked at first outside a transaction: each lane of each worker polls four times a second while
    // idle, and in a burst most of them find every tenant with due work at its cap. Such a poll then
    // costs a read or a few instead of a write transaction (SQLite's one write lock, PostgreSQL's row
    // locks): 230 of a 10,000-lead Salesforce burst's 286 claims found nothing.
    if (options.tenantId === undefined && !(await this.anyClaimable(now, capOf))) return [];
    return this.db.transaction(async (tx) => {
      const candidates =
        options.tenantId === undefined
          ? (await this.tenantsInTurn(tx, now)).map((t) => t.id)
          : [options.tenantId];
      for (const tenantId of candidates) {
        // The tenant's row is its turn: locked (skipping one another claimer holds), the in-flight count
        // read after the lock sees every claim committed before ours, so the cap holds across workers.
        const turn = await tx.get<{ id: string; provider: Provider }>(
          `SELECT id, provider FROM tenants WHERE id = ?${tx.dialect.turnLock}`,
          [tenantId],
        );
        if (turn === undefined) continue;
        const most = capOf(turn.provider);
        if (most !== undefined && (await this.batchesInFlight(tx, tenantId, now)) >= most) continue;
        const items = await this.claimOf(tx, tenantId, lease);
        if (items.length === 0) continue;
        await tx.run(
          'UPDATE tenants SET work_turn = (SELECT COALESCE(MAX(work_turn), 0) + 1 FROM tenants) WHERE id = ?',
          [tenantId],
        );
        return items;
      }
      return [];
    });
  }

  /** Leases up to `limit` of the tenant's due rows, live before bulk, oldest first. */
  private async claimOf(
    db: Db,
    tenantId: string,
    lease: { workerId: string; limit: number; leaseMs: number; now: number },
  ): Promise<InboxItem[]> {
    const { workerId, limit, leaseMs, now } = lease;
    // The pick is a materialized CTE joined by UPDATE … FROM: PostgreSQL may re-run an `IN (SELECT … LIMIT)`
    // subquery and so exceed the limit; a CTE runs once. The outer `state = 'pending'` is the CAS.
    const rows = await db.all<InboxRow>(
      `WITH picked AS MATERIALIZED (
         SELECT id AS picked_id FROM inbox WHERE state = 'pending' AND tenant_id = ? AND run_after <= ?
           AND ${WORKING_TENANT}
         ORDER BY priority, run_after, id LIMIT ?${db.dialect.claimLock})
       UPDATE inbox SET state = 'leased', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
       FROM picked WHERE inbox.id = picked.picked_id AND inbox.state = 'pending'
       RETURNING ${INBOX_COLUMNS}`,
      [tenantId, now, limit, workerId, now + leaseMs, now],
    );
    return rows
      .map(toInbox)
      .sort(
        (a, b) =>
          WORK_PRIORITIES[a.priority] - WORK_PRIORITIES[b.priority] || a.runAfter - b.runAfter || a.id - b.id,
      );
  }

  /**
   * Tenants with due work, served longest ago first (a bounded few: the claim takes the first it can).
   * The tenants with pending rows are found by skipping from one tenant id to the next in the index,
   * so a tenant's backlog of 50,000 rows costs one index step, not a scan.
   */
  private async tenantsInTurn(db: Db, now: number): Promise<{ id: string; provider: Provider }[]> {
    return db.all<{ id: string; provider: Provider }>(
      `WITH RECURSIVE busy (tenant_id) AS (
         SELECT MIN(tenant_id) FROM inbox WHERE state = 'pending'
         UNION ALL
         SELECT (SELECT MIN(i.tenant_id) FROM inbox i WHERE i.state = 'pending' AND i.tenant_id > busy.tenant_id)
         FROM busy WHERE busy.tenant_id IS NOT NULL)
       SELECT t.id, t.provider FROM busy JOIN tenants t ON t.id = busy.tenant_id
       WHERE t.uninstalled_at IS NULL AND t.paused_at IS NULL
         AND EXISTS (SELECT 1 FROM inbox d WHERE d.state = 'pending' AND d.tenant_id = t.id AND d.run_after <= ?)
       ORDER BY t.work_turn, t.id LIMIT ?`,
      [now, TURN_CANDIDATES],
    );
  }

  /**
   * Whether a claim across tenants could take anything: a tenant in turn with due work below its cap.
   * Read without locks, so only a hint: the claim's transaction decides again under them.
   */
  private async anyClaimable(
    now: number,
    capOf: (provider: Provider) => number | undefined,
  ): Promise<boolean> {
    for (const { id, provider } of await this.tenantsInTurn(this.db, now)) {
      const most = capOf(provider);
      if (most === undefined || (await this.batchesInFlight(this.db, id, now)) < most) return true;
    }
    return false;
  }

  /** The tenant's batches in flight: distinct holders of leases not yet expired. */
  private async batchesInFlight(db: Db, tenantId: string, now: number): Promise<number> {
    const row = await db.get<{ n: number | string }>(
      `SELECT COUNT(DISTINCT lease_owner) AS n FROM inbox
       WHERE state = 'leased' AND tenant_id = ? AND lease_until > ?`,
      [tenantId, now],
    );
    return Number(row?.n ?? 0);
  }

  /**
   * Extends the lease of rows `workerId` still holds to `leaseUntil` (a batch taking longer than the
   * lease, alive all the while); returns how many it extended. Rows settled or taken over are left alone.
   */
  async renewLeases(
    ids: readonly number[],
    workerId: string,
    leaseUntil: number,
    now: number,
  ): Promise<number> {
    let renewed = 0;
    for (const part of chunk([...new Set(ids)], KEY_CHUNK)) {
      const r = await this.db.run(
        `UPDATE inbox${this.db.dialect.lookupBy(PRIMARY_KEY)} SET lease_until = ?, updated_at = ?
         WHERE id IN (${marks(part.length)}) AND state = 'leased' AND lease_owner = ? AND lease_until < ?`,
        [leaseUntil, now, ...part, workerId, leaseUntil],
      );
      renewed += r.changes;
    }
    return renewed;
  }

  /** Done: only by the lease holder of a leased row. Marks the effect keys the row claimed as done. */
  async complete(id: number, workerId: string, now: number): Promise<boolean> {
    return (await this.completeMany([id], workerId, now)).length === 1;
  }

  /** `complete` for many rows in one transaction (a batch's worth); returns the ids it completed. */
  async completeMany(ids: readonly number[], workerId: string, now: number): Promise<number[]> {
    if (ids.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const done: number[] = [];
      for (const part of chunk(ids, KEY_CHUNK)) {
        const rows = await tx.all<{ id: number }>(
          `UPDATE inbox${tx.dialect.lookupBy(PRIMARY_KEY)} SET state = 'done', lease_owner = NULL, lease_until = NULL, updated_at = ?
           WHERE id IN (${marks(part.length)}) AND state = 'leased' AND lease_owner = ? RETURNING id`,
          [now, ...part, workerId],
        );
        const ours = rows.map((r) => r.id);
        if (ours.length === 0) continue;
        await tx.run(
          `UPDATE effects${tx.dialect.lookupBy('effects_inbox')} SET state = 'done', done_at = ?
           WHERE inbox_id IN (${marks(ours.length)}) AND state = 'claimed'`,
          [now, ...ours],
        );
        done.push(...ours);
      }
      return done;
    });
  }

  /**
   * Back to pending, due at `runAfter` (the stored backoff). `giveBackAttempt`: the claim's attempt is
   * not counted, because the item only waits for its tenant (paused, or uninstalled until a reinstall),
   * which is no failure of its own and must not bring its dead letter closer.
   */
  async retryLater(
    id: number,
    workerId: string,
    runAfter: number,
    error: string,
    now: number,
    options: { giveBackAttempt?: boolean } = {},
  ): Promise<boolean> {
    // The lease is ours, so its claim counted an attempt: attempts stays at 0 or more.
    const r = await this.db.run(
      `UPDATE inbox SET state = 'pending', run_after = ?, last_error = ?, lease_owner = NULL, lease_until = NULL,
         attempts = attempts - ?, updated_at = ?
       WHERE id = ? AND state = 'leased' AND lease_owner = ?`,
      [runAfter, error, options.giveBackAttempt === true ? 1 : 0, now, id, workerId],
    );
    return r.changes === 1;
  }

  /**
   * A permanent failure, kept with a readable reason until someone replays it; its notification's
   * deliveries are recorded in the same transaction, only if the item did become a dead letter.
   */
  async deadLetter(
    id: number,
    workerId: string,
    reason: string,
    now: number,
    notifications: readonly NotificationInput[] = [],
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const r = await tx.run(
        `UPDATE inbox SET state = 'failed', last_error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
         WHERE id = ? AND state = 'leased' AND lease_owner = ?`,
        [reason, now, id, workerId],
      );
      if (r.changes !== 1) return false;
      await insertNotificationsWith(tx, notifications, now);
      // Another worker routed the lead again while this row was worked: closed at once, as that
      // decision's commit closes the dead letters it finds.
      const row = await tx.get<InboxRow & { object_id: string }>('SELECT * FROM inbox WHERE id = ?', [id]);
      const since = row === undefined ? null : await routedSinceWith(tx, row);
      if (row !== undefined && since !== null) await closeWith(tx, row, supersededReason(since, reason), now);
      return true;
    });
  }

  /**
   * Tenants whose items `reapExpired` would dead-letter (leases ending by `until`, `maxAttempts` taken):
   * the rule sets to load before it, whose channels hear of those dead letters.
   */
  async tenantsToDeadLetter(until: number, maxAttempts: number): Promise<string[]> {
    const rows = await this.db.all<{ tenant_id: string }>(
      `SELECT DISTINCT tenant_id FROM inbox WHERE state = 'leased' AND lease_until <= ? AND attempts >= ?`,
      [until, maxAttempts],
    );
    return rows.map((r) => r.tenant_id);
  }

  /**
   * Returns expired leases to pending (due now). With `maxAttempts`, a row whose lease expired that many
   * times (a poison event crashing its workers) becomes a dead letter instead; `deadLetters` are those
   * (for metrics and the console), and `notify` gives each dead letter's notification, written in the
   * same transaction.
   */
  async reapExpired(
    now: number,
    options: {
      maxAttempts?: number | undefined;
      leasedUntil?: number | undefined;
      notify?: ((dead: ReapedDeadLetter) => readonly NotificationInput[]) | undefined;
    } = {},
  ): Promise<{ requeued: number; deadLettered: number; deadLetters: ReapedDeadLetter[] }> {
    // Leases that end by this time are taken back: `now` (expired ones), or later for a takeover.
    const until = options.leasedUntil ?? now;
    return this.db.transaction(async (tx) => {
      let deadLetters: ReapedDeadLetter[] = [];
      if (options.maxAttempts !== undefined) {
        const reason = `lease expired after ${options.maxAttempts} attempts`;
        const dead = await tx.all<{ id: number; tenant_id: string; object_id: string }>(
          `UPDATE inbox SET state = 'failed', last_error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
           WHERE state = 'leased' AND lease_until <= ? AND attempts >= ? RETURNING id, tenant_id, object_id`,
          [reason, now, until, options.maxAttempts],
        );
        deadLetters = dead
          .map((r) => ({ tenantId: r.tenant_id, id: Number(r.id), leadId: r.object_id, reason }))
          .sort((a, b) => a.id - b.id);
        const notify = options.notify;
        if (notify !== undefined) await insertNotificationsWith(tx, deadLetters.flatMap(notify), now);
      }
      const requeued = await tx.run(
        `UPDATE inbox SET state = 'pending', run_after = ?, last_error = 'lease expired: ' || lease_owner,
           lease_owner = NULL, lease_until = NULL, updated_at = ?
         WHERE state = 'leased' AND lease_until <= ?`,
        [now, now, until],
      );
      return { requeued: requeued.changes, deadLettered: deadLetters.length, deadLetters };
    });
  }

  async getInboxItem(tenantId: string, id: number): Promise<InboxItem | null> {
    const row = await this.db.get<InboxRow>('SELECT * FROM inbox WHERE tenant_id = ? AND id = ?', [
      tenantId,
      id,
    ]);
    return row === undefined ? null : toInbox(row);
  }

  /** Row counts per state, for health and metrics. */
  async inboxStats(tenantId?: string): Promise<InboxStats> {
    const rows = await this.db.all<{ state: InboxState; n: number }>(
      tenantId === undefined
        ? 'SELECT state, COUNT(*) AS n FROM inbox GROUP BY state'
        : 'SELECT state, COUNT(*) AS n FROM inbox WHERE tenant_id = ? GROUP BY state',
      tenantId === undefined ? [] : [tenantId],
    );
    const stats: InboxStats = { pending: 0, leased: 0, done: 0, failed: 0 };
    for (const r of rows) stats[r.state] = Number(r.n);
    return stats;
  }

  /**
   * Pending, leased and failed rows per tenant (tenants with none are absent). Done rows are not
   * counted, so a scrape reads the live backlog through the state index, not every event ever received.
   */
  async queueDepth(): Promise<Map<string, QueueDepth>> {
    const rows = await this.db.all<{ tenant_id: string; state: Exclude<InboxState, 'done'>; n: number }>(
      `SELECT tenant_id, state, COUNT(*) AS n FROM inbox WHERE state IN ('pending', 'leased', 'failed')
       GROUP BY tenant_id, state`,
    );
    const depth = new Map<string, QueueDepth>();
    for (const r of rows) {
      const d = depth.get(r.tenant_id) ?? { pending: 0, leased: 0, failed: 0 };
      d[r.state] = Number(r.n);
      depth.set(r.tenant_id, d);
    }
    return depth;
  }

  async deadLetters(tenantId: string, limit = 100): Promise<InboxItem[]> {
    return (
      await this.db.all<InboxRow>(
        `SELECT * FROM inbox WHERE tenant_id = ? AND state = 'failed' ORDER BY updated_at DESC, id DESC LIMIT ?`,
        [tenantId, limit],
      )
    ).map(toInbox);
  }

  /**
   * Dead letter → pending with attempts reset, due now, as bulk work (after the tenant's new leads). The
   * effect keys it claimed but never finished are released, so the replay routes the lead once (not zero
   * times, and not twice). One whose lead was routed again after it failed is refused (`superseded`)
   * and nothing changes: its writes would undo the newer decision's.
   */
  async replay(tenantId: string, id: number, now: number): Promise<ReplayOutcome> {
    return this.db.transaction(async (tx) => {
      const row = await tx.get<InboxRow & { object_id: string }>(
        `SELECT * FROM inbox WHERE tenant_id = ? AND id = ?${tx.dialect.rowLock}`,
        [tenantId, id],
      );
      if (row?.state === 'done' && row.last_error?.startsWith(SUPERSEDED) === true)
        return { status: 'superseded', leadId: row.object_id, reason: row.last_error.split(HAD_FAILED)[0]! };
      if (row?.state !== 'failed') return { status: 'unknown' };
      const since = await routedSinceWith(tx, row);
      if (since !== null)
        return { status: 'superseded', leadId: row.object_id, reason: supersededReason(since, null) };
      const r = await tx.run(
        `UPDATE inbox SET state = 'pending', priority = ?, attempts = 0, run_after = ?, last_error = NULL,
           updated_at = ?
         WHERE tenant_id = ? AND id = ? AND state = 'failed'`,
        [WORK_PRIORITIES.bulk, now, now, tenantId, id],
      );
      if (r.changes !== 1) return { status: 'unknown' };
      await tx.run(`DELETE FROM effects WHERE tenant_id = ? AND inbox_id = ? AND state = 'claimed'`, [
        tenantId,
        id,
      ]);
      // The refusal was fixed outside (a seat, a scope, a sequence): its failed actions are tried again;
      // actions already done stay done, so the lead is still routed exactly once. Those of a decision the
      // lead was decided again after (its owner refused as inactive) stay failed: the replay goes on
      // from the decision made again.
      await tx.run(
        `UPDATE actions SET status = 'planned', error = NULL, updated_at = ?
         WHERE tenant_id = ? AND status = 'failed' AND lead_id = (SELECT object_id FROM inbox WHERE tenant_id = ? AND id = ?)
           AND NOT EXISTS (SELECT 1 FROM decisions AS again WHERE again.tenant_id = actions.tenant_id
             AND again.decision_key = actions.decision_key || ?)`,
        [now, tenantId, tenantId, id, DECIDED_AGAIN],
      );
      return { status: 'replayed' };
    });
  }
}
