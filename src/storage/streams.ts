// Pulled event streams (Salesforce Change Data Capture): who reads a tenant's channel, and where it
// resumes. One process per tenant and channel holds the lease and renews it while alive; when it dies
// the lease expires and another takes it over (the only process on its database takes it at once). The
// cursor moves only after the events it covers are in the inbox, and only while its writer still holds
// the lease, so a stream resumed elsewhere never starts past an event that was not recorded.
import { classifyConstraint, type Db } from './db.js';
import { StorageError } from './errors.js';

/** The longest error text a lease row keeps: the CRM's reason, not a dump. */
export const STREAM_ERROR_MAX = 300;

export interface StreamCursor {
  /** The last replay id whose events are in the inbox; null before the first one. */
  replayId: string | null;
  /** When the CRM committed that event (epoch ms): a replay id older than the retention is useless. */
  replayAt: number | null;
  /** Every record created before this time (epoch ms) is in the inbox: the catch-up poll starts here. */
  coveredUntil: number | null;
  updatedAt: number;
}

/** What an `advance` moves; a field left out keeps its stored value. */
export interface StreamAdvance {
  replayId?: string | undefined;
  replayAt?: number | undefined;
  /** Only ever moves forward. */
  coveredUntil?: number | undefined;
}

/** What a lease's holder says of its stream: subscribed, or a subscribe or handshake failed and why. */
export type StreamSubscription = { subscribed: true } | { subscribed: false; error: string };

/** The live lease of a stream: who reads it, since when, and whether its subscription works. */
export interface StreamLease {
  holder: string;
  takenAt: number;
  /** When this holder last subscribed; null until it has. */
  subscribedAt: number | null;
  /** Since when this holder's subscribe or handshake fails; null while it does not. */
  failingSince: number | null;
  /** The CRM's reason for the failure, while it fails (at most STREAM_ERROR_MAX characters). */
  lastError: string | null;
  /**
   * When this holder's catch-up poll last found records created while its stream was subscribed that
   * the stream never delivered, and how many; null while none has.
   */
  missed: StreamMissed | null;
}

/** A catch-up poll's finding of records its subscribed stream did not deliver. */
export interface StreamMissed {
  at: number;
  count: number;
}

/** A channel every tenant of a provider has a stream on (Salesforce: its Lead and Contact channels). */
export interface PulledChannel {
  provider: string;
  channel: string;
}

/** One installed tenant's stream on one channel, as the database has it: who reads it, how far it got. */
export interface StreamState {
  tenantId: string;
  channel: string;
  /** The tenant's routing is paused (its CRM account refuses our credentials for now). */
  paused: boolean;
  /** The process reading the stream and since when; null when no lease is live: nobody reads it. */
  lease: StreamLease | null;
  /**
   * When the last lease ran out unrenewed (its holder died or lost the database); null while one is
   * live, and when none was ever taken or the last was given up at a clean stop.
   */
  lapsedAt: number | null;
  /** Where the stream resumes; null before the first events or coverage were recorded. */
  cursor: StreamCursor | null;
}

/**
 * How long a held stream may go unsubscribed before it counts as failing. A healthy stream's client is
 * replaced now and then (an expired session is refreshed and subscribed again within seconds, and the
 * backoff between attempts stops at a minute): a shorter grace would report those as outages.
 */
export const STREAM_FAILING_GRACE_MS = 2 * 60_000;

/**
 * Since when, and why, the process holding a stream has failed to subscribe, once that has lasted
 * longer than the grace; null for a stream no process holds (see `lease`), or whose holder subscribes.
 */
export function streamFailure(
  s: Pick<StreamState, 'lease'>,
  now: number,
): { since: number; error: string } | null {
  const since = s.lease?.failingSince ?? null;
  if (since === null || now - since <= STREAM_FAILING_GRACE_MS) return null;
  return { since, error: s.lease?.lastError ?? 'no reason given' };
}

/**
 * How long a poll's finding of missed records keeps a stream reported as silent: three of the default
 * 5-minute polls. A silent stream's every poll that finds new records renews it; an org that creates
 * nothing meanwhile has nothing missed.
 */
export const STREAM_MISSED_RECENT_MS = 15 * 60_000;

/**
 * What the holder's last catch-up poll that found records the subscribed stream never delivered found,
 * while that is recent; null otherwise (or no process holds the stream).
 */
export function streamSilence(s: Pick<StreamState, 'lease'>, now: number): StreamMissed | null {
  const missed = s.lease?.missed ?? null;
  return missed !== null && now - missed.at <= STREAM_MISSED_RECENT_MS ? missed : null;
}

/** A tenant's channel, joined with its lease and cursor: their columns are null when it has none. */
interface StateRow {
  tenant_id: string;
  channel: string;
  paused_at: number | null;
  holder: string | null;
  taken_at: number | null;
  expires_at: number | null;
  subscribed_at: number | null;
  failing_since: number | null;
  last_error: string | null;
  missed_at: number | null;
  missed_count: number | null;
  replay_id: string | null;
  replay_at: number | null;
  covered_until: number | null;
  updated_at: number | null;
}

interface CursorRow {
  replay_id: string | null;
  replay_at: number | null;
  covered_until: number | null;
  updated_at: number;
}

function toCursor(row: CursorRow): StreamCursor {
  return {
    replayId: row.replay_id,
    replayAt: row.replay_at,
    coveredUntil: row.covered_until,
    updatedAt: row.updated_at,
  };
}

function checkKey(tenantId: string, channel: string): void {
  if (tenantId === '' || channel === '')
    throw new StorageError('invalid', 'a stream needs a tenant and a channel');
}

export class StreamRepository {
  constructor(private readonly db: Db) {}

  /**
   * Takes the lease of a tenant's channel for `holder` until `now + ttlMs`, or renews it when `holder`
   * already holds it. False while another holder's lease has not expired.
   */
  async takeLease(
    tenantId: string,
    channel: string,
    holder: string,
    ttlMs: number,
    now: number,
  ): Promise<boolean> {
    checkKey(tenantId, channel);
    if (holder === '' || !(ttlMs > 0))
      throw new StorageError('invalid', 'a lease needs a holder and a ttl > 0');
    try {
      // What a previous holder said of its subscription is not the new holder's: it starts clean.
      const r = await this.db.run(
        `INSERT INTO stream_leases (tenant_id, channel, holder, expires_at, taken_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, channel) DO UPDATE SET
           holder = excluded.holder,
           expires_at = excluded.expires_at,
           taken_at = CASE WHEN stream_leases.holder = excluded.holder
                           THEN stream_leases.taken_at ELSE excluded.taken_at END,
           subscribed_at = CASE WHEN stream_leases.holder = excluded.holder
                                THEN stream_leases.subscribed_at ELSE NULL END,
           failing_since = CASE WHEN stream_leases.holder = excluded.holder
                                THEN stream_leases.failing_since ELSE NULL END,
           last_error = CASE WHEN stream_leases.holder = excluded.holder
                             THEN stream_leases.last_error ELSE NULL END,
           missed_at = CASE WHEN stream_leases.holder = excluded.holder
                            THEN stream_leases.missed_at ELSE NULL END,
           missed_count = CASE WHEN stream_leases.holder = excluded.holder
                               THEN stream_leases.missed_count ELSE NULL END
         WHERE stream_leases.holder = excluded.holder OR stream_leases.expires_at <= ?`,
        [tenantId, channel, holder, now + ttlMs, now, now],
      );
      return r.changes === 1;
    } catch (error) {
      throw classifyConstraint(error);
    }
  }

  /**
   * Takes the lease for `holder` even while another holder's has not expired: only for the one process
   * on its database, where that holder can only be a dead predecessor. Returns that holder, or null when
   * the lease was free or `holder`'s already.
   */
  async takeOverLease(
    tenantId: string,
    channel: string,
    holder: string,
    ttlMs: number,
    now: number,
  ): Promise<string | null> {
    return this.db.transaction(async (tx) => {
      const previous = await tx.get<{ holder: string }>(
        `SELECT holder FROM stream_leases
         WHERE tenant_id = ? AND channel = ? AND holder <> ? AND expires_at > ?${tx.dialect.rowLock}`,
        [tenantId, channel, holder, now],
      );
      await tx.run('DELETE FROM stream_leases WHERE tenant_id = ? AND channel = ? AND holder <> ?', [
        tenantId,
        channel,
        holder,
      ]);
      await new StreamRepository(tx).takeLease(tenantId, channel, holder, ttlMs, now);
      return previous?.holder ?? null;
    });
  }

  /**
   * Records whether `holder`'s stream is subscribed: a success clears the failure; a failure keeps its
   * first time (since when it fails) and the latest reason, cut to STREAM_ERROR_MAX characters. Only the
   * holder writes it; false when `holder` does not hold the lease row.
   */
  async recordSubscription(
    tenantId: string,
    channel: string,
    holder: string,
    status: StreamSubscription,
    now: number,
  ): Promise<boolean> {
    const r = status.subscribed
      ? await this.db.run(
          `UPDATE stream_leases SET subscribed_at = ?, failing_since = NULL, last_error = NULL
           WHERE tenant_id = ? AND channel = ? AND holder = ?`,
          [now, tenantId, channel, holder],
        )
      : await this.db.run(
          `UPDATE stream_leases SET failing_since = COALESCE(failing_since, ?), last_error = ?
           WHERE tenant_id = ? AND channel = ? AND holder = ?`,
          [now, status.error.slice(0, STREAM_ERROR_MAX), tenantId, channel, holder],
        );
    return r.changes === 1;
  }

  /**
   * Records that `holder`'s catch-up poll found `count` records its subscribed stream never delivered
   * (the last such finding is kept). Only the holder writes it; false when `holder` does not hold the
   * lease row.
   */
  async recordMissed(
    tenantId: string,
    channel: string,
    holder: string,
    count: number,
    now: number,
  ): Promise<boolean> {
    if (!Number.isInteger(count) || count <= 0)
      throw new StorageError('invalid', 'missed records are counted by an integer > 0');
    const r = await this.db.run(
      `UPDATE stream_leases SET missed_at = ?, missed_count = ?
       WHERE tenant_id = ? AND channel = ? AND holder = ?`,
      [now, count, tenantId, channel, holder],
    );
    return r.changes === 1;
  }

  /** Gives the lease up (a clean stop), so another process need not wait for it to expire. */
  async releaseLease(tenantId: string, channel: string, holder: string): Promise<boolean> {
    const r = await this.db.run(
      'DELETE FROM stream_leases WHERE tenant_id = ? AND channel = ? AND holder = ?',
      [tenantId, channel, holder],
    );
    return r.changes === 1;
  }

  /** Who holds the lease at `now`, or null when nobody does. */
  async leaseHolder(tenantId: string, channel: string, now: number): Promise<string | null> {
    const row = await this.db.get<{ holder: string }>(
      'SELECT holder FROM stream_leases WHERE tenant_id = ? AND channel = ? AND expires_at > ?',
      [tenantId, channel, now],
    );
    return row?.holder ?? null;
  }

  /**
   * Every installed tenant's stream on each channel its provider has (`pulled`), paused tenants
   * included, by tenant and channel: one query, whatever the number of tenants. A stream without a
   * lease is there too (no process took one: it could not start, or the last holder gave it up).
   * `tenantId`: that tenant's only.
   */
  async states(pulled: readonly PulledChannel[], now: number, tenantId?: string): Promise<StreamState[]> {
    if (pulled.length === 0) return [];
    const channels = pulled
      .map(() => 'SELECT CAST(? AS TEXT) AS provider, CAST(? AS TEXT) AS channel')
      .join(' UNION ALL ');
    const rows = await this.db.all<StateRow>(
      `SELECT t.id AS tenant_id, c.channel, t.paused_at, l.holder, l.taken_at, l.expires_at,
         l.subscribed_at, l.failing_since, l.last_error, l.missed_at, l.missed_count,
         s.replay_id, s.replay_at, s.covered_until, s.updated_at
       FROM tenants t
       JOIN (${channels}) c ON c.provider = t.provider
       LEFT JOIN stream_leases l ON l.tenant_id = t.id AND l.channel = c.channel
       LEFT JOIN stream_cursors s ON s.tenant_id = t.id AND s.channel = c.channel
       WHERE t.uninstalled_at IS NULL${tenantId === undefined ? '' : ' AND t.id = ?'}
       ORDER BY t.id, c.channel`,
      [...pulled.flatMap((p) => [p.provider, p.channel]), ...(tenantId === undefined ? [] : [tenantId])],
    );
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      channel: r.channel,
      paused: r.paused_at !== null,
      lease:
        r.holder !== null && r.taken_at !== null && r.expires_at !== null && r.expires_at > now
          ? {
              holder: r.holder,
              takenAt: r.taken_at,
              subscribedAt: r.subscribed_at,
              failingSince: r.failing_since,
              lastError: r.last_error,
              missed:
                r.missed_at === null || r.missed_count === null
                  ? null
                  : { at: r.missed_at, count: r.missed_count },
            }
          : null,
      lapsedAt: r.expires_at !== null && r.expires_at <= now ? r.expires_at : null,
      // updated_at is NOT NULL in stream_cursors: null here means the channel has no cursor.
      cursor: r.updated_at === null ? null : toCursor({ ...r, updated_at: r.updated_at }),
    }));
  }

  async cursor(tenantId: string, channel: string): Promise<StreamCursor | null> {
    const row = await this.db.get<CursorRow>(
      `SELECT replay_id, replay_at, covered_until, updated_at FROM stream_cursors
       WHERE tenant_id = ? AND channel = ?`,
      [tenantId, channel],
    );
    return row === undefined ? null : toCursor(row);
  }

  /**
   * Moves the cursor — call it only after the events it covers are committed to the inbox. Done only
   * while `holder` holds the lease at `now`; false (nothing changed) when it does not.
   */
  async advance(
    tenantId: string,
    channel: string,
    holder: string,
    to: StreamAdvance,
    now: number,
  ): Promise<boolean> {
    checkKey(tenantId, channel);
    if (to.replayId === '') throw new StorageError('invalid', 'a replay id is not empty');
    try {
      const r = await this.db.run(
        `INSERT INTO stream_cursors (tenant_id, channel, replay_id, replay_at, covered_until, updated_at)
         SELECT ?, ?, CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT)
         WHERE EXISTS (SELECT 1 FROM stream_leases
                       WHERE tenant_id = ? AND channel = ? AND holder = ? AND expires_at > ?)
         ON CONFLICT (tenant_id, channel) DO UPDATE SET
           replay_id = COALESCE(excluded.replay_id, stream_cursors.replay_id),
           replay_at = CASE WHEN excluded.replay_id IS NULL
                            THEN stream_cursors.replay_at ELSE excluded.replay_at END,
           covered_until = CASE
             WHEN excluded.covered_until IS NULL THEN stream_cursors.covered_until
             WHEN stream_cursors.covered_until IS NULL THEN excluded.covered_until
             WHEN excluded.covered_until > stream_cursors.covered_until THEN excluded.covered_until
             ELSE stream_cursors.covered_until END,
           updated_at = excluded.updated_at`,
        [tenantId, channel, to.replayId, to.replayAt, to.coveredUntil, now, tenantId, channel, holder, now],
      );
      return r.changes === 1;
    } catch (error) {
      throw classifyConstraint(error);
    }
  }
}
