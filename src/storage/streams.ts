// Pulled event streams (Salesforce Change Data Capture): who reads a tenant's channel, and where it
// resumes. One process per tenant and channel holds the lease and renews it while alive; when it dies
// the lease expires and another takes it over (the only process on its database takes it at once). The
// cursor moves only after the events it covers are in the inbox, and only while its writer still holds
// the lease, so a stream resumed elsewhere never starts past an event that was not recorded.
import { classifyConstraint, type Db } from './db.js';
import { StorageError } from './errors.js';

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
  lease: { holder: string; takenAt: number } | null;
  /**
   * When the last lease ran out unrenewed (its holder died or lost the database); null while one is
   * live, and when none was ever taken or the last was given up at a clean stop.
   */
  lapsedAt: number | null;
  /** Where the stream resumes; null before the first events or coverage were recorded. */
  cursor: StreamCursor | null;
}

/** A tenant's channel, joined with its lease and cursor: their columns are null when it has none. */
interface StateRow {
  tenant_id: string;
  channel: string;
  paused_at: number | null;
  holder: string | null;
  taken_at: number | null;
  expires_at: number | null;
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
      const r = await this.db.run(
        `INSERT INTO stream_leases (tenant_id, channel, holder, expires_at, taken_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, channel) DO UPDATE SET
           holder = excluded.holder,
           expires_at = excluded.expires_at,
           taken_at = CASE WHEN stream_leases.holder = excluded.holder
                           THEN stream_leases.taken_at ELSE excluded.taken_at END
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
          ? { holder: r.holder, takenAt: r.taken_at }
          : null,
      lapsedAt: r.expires_at !== null && r.expires_at <= now ? r.expires_at : null,
      // updated_at is NOT NULL in stream_cursors: null here means the channel has no cursor.
      cursor:
        r.updated_at === null
          ? null
          : {
              replayId: r.replay_id,
              replayAt: r.replay_at,
              coveredUntil: r.covered_until,
              updatedAt: r.updated_at,
            },
    }));
  }

  async cursor(tenantId: string, channel: string): Promise<StreamCursor | null> {
    const row = await this.db.get<CursorRow>(
      `SELECT replay_id, replay_at, covered_until, updated_at FROM stream_cursors
       WHERE tenant_id = ? AND channel = ?`,
      [tenantId, channel],
    );
    if (row === undefined) return null;
    return {
      replayId: row.replay_id,
      replayAt: row.replay_at,
      coveredUntil: row.covered_until,
      updatedAt: row.updated_at,
    };
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
