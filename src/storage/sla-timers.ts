// SLA timers: armed when a decision with an SLA commits, moved by compare-and-set on their state.
import type { Decision } from '../core/types.js';
import type { Db } from './db.js';
import { slaBreachSchema, type SlaState, type SlaTimer } from './model.js';
import { chunk, dueRows, ownerOf, readJson, ROW_CHUNK } from './shared.js';

interface SlaRow {
  id: number;
  tenant_id: string;
  lead_id: string;
  decision_key: string;
  owner: string | null;
  due_at: number;
  on_breach: string;
  state: SlaState;
  created_at: number;
  updated_at: number;
}

const toSla = (r: SlaRow): SlaTimer => ({
  id: r.id,
  tenantId: r.tenant_id,
  leadId: r.lead_id,
  decisionKey: r.decision_key,
  owner: r.owner,
  dueAt: r.due_at,
  onBreach: readJson(r.on_breach, `sla_timers.on_breach of row ${r.id}`, slaBreachSchema),
  state: r.state,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class SlaTimerRepository {
  constructor(private readonly db: Db) {}

  async dueSlaTimers(
    now: number,
    options: { tenantId?: string | undefined; limit?: number | undefined } = {},
  ): Promise<SlaTimer[]> {
    return (
      await dueRows<SlaRow>(this.db, `sla_timers WHERE state = 'armed' AND due_at`, 'due_at', now, options)
    ).map(toSla);
  }

  async slaTimersFor(tenantId: string, leadId: string): Promise<SlaTimer[]> {
    return (
      await this.db.all<SlaRow>('SELECT * FROM sla_timers WHERE tenant_id = ? AND lead_id = ? ORDER BY id', [
        tenantId,
        leadId,
      ])
    ).map(toSla);
  }

  /** Compare-and-set on the timer state (armed → met | breached | cancelled). */
  async setSlaState(
    tenantId: string,
    id: number,
    from: SlaState,
    to: SlaState,
    now: number,
  ): Promise<boolean> {
    const r = await this.db.run(
      'UPDATE sla_timers SET state = ?, updated_at = ? WHERE tenant_id = ? AND id = ? AND state = ?',
      [to, now, tenantId, id, from],
    );
    return r.changes === 1;
  }

  /** Inside the caller's transaction (a commit of decisions): arms a timer for each decision with an SLA. */
  async armWith(
    tx: Db,
    tenantId: string,
    decisions: readonly { decisionKey: string; decision: Decision }[],
    now: number,
  ): Promise<void> {
    const timed = decisions.filter(({ decision }) => decision.sla !== undefined);
    for (const part of chunk(timed, ROW_CHUNK)) {
      await tx.run(
        `INSERT INTO sla_timers (tenant_id, lead_id, decision_key, owner, due_at, on_breach, state, created_at,
           updated_at)
         VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?, 'armed', ?, ?)").join(', ')} ON CONFLICT DO NOTHING`,
        part.flatMap(({ decisionKey, decision }) => [
          tenantId,
          decision.leadId,
          decisionKey,
          ownerOf(decision),
          decision.sla?.firstTouchBy,
          JSON.stringify(decision.sla?.onBreach),
          now,
          now,
        ]),
      );
    }
  }
}
