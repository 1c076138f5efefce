// Privacy deletions: everything held about one contact goes; only the row counts are kept.
import type { Db } from './db.js';
import { privacyCountsSchema, type PrivacyDeletionCounts } from './model.js';
import { readJson } from './shared.js';

export class PrivacyRepository {
  constructor(private readonly db: Db) {}

  /**
   * Deletes everything held about one contact of the tenant — decisions (email, trace, summary), planned
   * actions (their rendered task and note text), holds, SLA timers, effect keys and inbox rows (event
   * payloads) — in one transaction, and records only how many rows went. Rotation rows name reps, never
   * leads, and stay. Idempotent: a second request deletes nothing and records zeros.
   */
  async purgeContact(tenantId: string, contactId: string, now: number): Promise<PrivacyDeletionCounts> {
    return this.db.transaction(async (tx) => {
      const del = async (sql: string): Promise<number> => (await tx.run(sql, [tenantId, contactId])).changes;
      const counts: PrivacyDeletionCounts = {
        actions: await del('DELETE FROM actions WHERE tenant_id = ? AND lead_id = ?'),
        decisions: await del('DELETE FROM decisions WHERE tenant_id = ? AND lead_id = ?'),
        holds: await del('DELETE FROM holds WHERE tenant_id = ? AND lead_id = ?'),
        // With them the steps they took and the notifications about the lead (its summary).
        slaTimers:
          (await del('DELETE FROM sla_timers WHERE tenant_id = ? AND lead_id = ?')) +
          (await del('DELETE FROM sla_steps WHERE tenant_id = ? AND lead_id = ?')) +
          (await del('DELETE FROM notifications WHERE tenant_id = ? AND lead_id = ?')),
        effects: await del('DELETE FROM effects WHERE tenant_id = ? AND lead_id = ?'),
        inbox: await del('DELETE FROM inbox WHERE tenant_id = ? AND object_id = ?'),
      };
      await tx.run('INSERT INTO privacy_deletions (tenant_id, deleted_at, rows_deleted) VALUES (?, ?, ?)', [
        tenantId,
        now,
        JSON.stringify(counts),
      ]);
      return counts;
    });
  }

  /** How many privacy deletions the tenant had, and the rows they removed in all. */
  async privacyDeletionStats(tenantId: string): Promise<{ requests: number; rows: number }> {
    const rows = await this.db.all<{ rows_deleted: string }>(
      'SELECT rows_deleted FROM privacy_deletions WHERE tenant_id = ?',
      [tenantId],
    );
    let total = 0;
    for (const row of rows) {
      const counts = readJson(row.rows_deleted, 'privacy_deletions.rows_deleted', privacyCountsSchema);
      for (const n of Object.values(counts)) total += n;
    }
    return { requests: rows.length, rows: total };
  }
}
