// Retention: deletes finished rows past their age, a bounded batch per call, across tables. Every
// delete re-checks its conditions, so a row that became needed again meanwhile stays.
import type { Db } from './db.js';
import { StorageError } from './errors.js';
import type { PurgeCounts, RetentionPolicy } from './model.js';
import { chunk, KEY_CHUNK, marks } from './shared.js';

export class RetentionRepository {
  constructor(private readonly db: Db) {}

  /**
   * Deletes one batch (up to `limit` rows of each kind) of rows past their retention: done inbox rows,
   * dead letters never replayed (releasing the effect keys they claimed, as a replay would), finished
   * effect keys, settled holds, decisions with their actions and SLA timers once none of them is
   * still needed, finished SLA steps as old as such decisions, and delivered (or given-up) notifications
   * as old as done inbox rows (or dead letters), and per-minute CRM call counts as old as done inbox rows. Every delete re-checks its conditions, so a row that became needed again meanwhile
   * stays. Call again while a count equals `limit`.
   */
  async purgeExpired(now: number, policy: RetentionPolicy, limit: number): Promise<PurgeCounts> {
    if (!Number.isInteger(limit) || limit <= 0)
      throw new StorageError('invalid', 'purgeExpired needs an integer limit > 0');
    const inboxBefore = now - policy.inboxDoneMs;
    const deadBefore = now - policy.deadLetterMs;
    const auditBefore = now - policy.decisionMs;
    // Every worker process purges: on PostgreSQL each takes rows no other purger holds.
    const lock = this.db.dialect.claimLock;
    // Each pick is a materialized CTE: PostgreSQL may re-run an `IN (SELECT … LIMIT)` subquery and so
    // exceed the batch; a CTE runs once. The outer condition is checked again on the rows picked.
    const inbox = await this.db.run(
      `WITH picked AS MATERIALIZED (
         SELECT id FROM inbox WHERE state = 'done' AND updated_at < ? ORDER BY updated_at, id LIMIT ?${lock})
       DELETE FROM inbox WHERE state = 'done' AND id IN (SELECT id FROM picked)`,
      [inboxBefore, limit],
    );
    const deadLetters = await this.db.transaction(async (tx) => {
      const dead = await tx.all<{ id: number }>(
        `WITH picked AS MATERIALIZED (
           SELECT id FROM inbox WHERE state = 'failed' AND updated_at < ? ORDER BY updated_at, id LIMIT ?${lock})
         DELETE FROM inbox WHERE state = 'failed' AND id IN (SELECT id FROM picked) RETURNING id`,
        [deadBefore, limit],
      );
      const ids = dead.map((r) => r.id);
      for (const part of chunk(ids, KEY_CHUNK))
        await tx.run(
          `DELETE FROM effects${tx.dialect.lookupBy('effects_inbox')} WHERE state = 'claimed' AND inbox_id IN (${marks(part.length)})`,
          part,
        );
      return ids.length;
    });
    const effects = await this.db.run(
      `WITH picked AS MATERIALIZED (
         SELECT tenant_id, lead_id, purpose FROM effects WHERE state = 'done' AND done_at < ? LIMIT ?${lock})
       DELETE FROM effects WHERE state = 'done'
         AND (tenant_id, lead_id, purpose) IN (SELECT tenant_id, lead_id, purpose FROM picked)`,
      [auditBefore, limit],
    );
    const holds = await this.db.run(
      `WITH picked AS MATERIALIZED (
         SELECT id FROM holds WHERE state IN ('released', 'timed_out') AND until < ? LIMIT ?${lock})
       DELETE FROM holds WHERE state <> 'held' AND id IN (SELECT id FROM picked)`,
      [auditBefore, limit],
    );
    const decisions = await this.purgeDecisions(auditBefore, limit);
    // A step being sent (planned, sent) is a claim on a CRM write: it stays until it is done or failed.
    const slaSteps = await this.db.run(
      `WITH picked AS MATERIALIZED (
         SELECT id FROM sla_steps WHERE status IN ('done', 'failed') AND at < ? LIMIT ?${lock})
       DELETE FROM sla_steps WHERE status IN ('done', 'failed') AND id IN (SELECT id FROM picked)`,
      [auditBefore, limit],
    );
    const notifications = await this.db.run(
      `WITH picked AS MATERIALIZED (
         SELECT id FROM notifications
         WHERE (state = 'delivered' AND updated_at < ?) OR (state = 'failed' AND updated_at < ?) LIMIT ?${lock})
       DELETE FROM notifications WHERE state IN ('delivered', 'failed') AND id IN (SELECT id FROM picked)`,
      [inboxBefore, deadBefore, limit],
    );
    const crmCalls = await this.db.run(
      `WITH picked AS MATERIALIZED (
         SELECT tenant_id, minute, outcome FROM crm_call_counts WHERE minute < ? LIMIT ?${lock})
       DELETE FROM crm_call_counts
         WHERE (tenant_id, minute, outcome) IN (SELECT tenant_id, minute, outcome FROM picked)`,
      [inboxBefore, limit],
    );
    return {
      inbox: inbox.changes,
      deadLetters,
      effects: effects.changes,
      decisions,
      holds: holds.changes,
      slaSteps: slaSteps.changes,
      notifications: notifications.changes,
      crmCalls: crmCalls.changes,
    };
  }

  /** Decisions decided before `before` that nothing needs any more, with their actions and SLA timers. */
  private async purgeDecisions(before: number, limit: number): Promise<number> {
    // Still needed: an action to write, a first touch to watch (a timer armed and due within the
    // retention: one due longer ago than that is history nobody will act on), or a lead held for data.
    const settled = `NOT EXISTS (SELECT 1 FROM actions a WHERE a.tenant_id = d.tenant_id
         AND a.decision_key = d.decision_key AND a.status = 'planned')
       AND NOT EXISTS (SELECT 1 FROM sla_timers t WHERE t.tenant_id = d.tenant_id AND t.lead_id = d.lead_id
         AND t.decision_key = d.decision_key AND t.state = 'armed' AND t.due_at >= ?)
       AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.tenant_id = d.tenant_id AND h.lead_id = d.lead_id
         AND h.state = 'held')`;
    const picked = await this.db.all<{ id: number }>(
      `SELECT id FROM decisions d WHERE decided_at < ? AND ${settled} ORDER BY decided_at, id LIMIT ?`,
      [before, before, limit],
    );
    return this.db.transaction(async (tx) => {
      let purged = 0;
      for (const { id } of picked) {
        const [gone] = await tx.all<{ tenant_id: string; lead_id: string; decision_key: string }>(
          `DELETE FROM decisions WHERE id IN (SELECT id FROM decisions d WHERE id = ? AND ${settled})
           RETURNING tenant_id, lead_id, decision_key`,
          [id, before],
        );
        if (gone === undefined) continue;
        await tx.run(`DELETE FROM actions WHERE tenant_id = ? AND decision_key = ? AND status <> 'planned'`, [
          gone.tenant_id,
          gone.decision_key,
        ]);
        await tx.run(
          `DELETE FROM sla_timers WHERE tenant_id = ? AND lead_id = ? AND decision_key = ?
             AND (state <> 'armed' OR due_at < ?)`,
          [gone.tenant_id, gone.lead_id, gone.decision_key, before],
        );
        purged += 1;
      }
      return purged;
    });
  }
}
