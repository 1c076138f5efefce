// What reports read: one fact per routing decision of a tenant within a time window, with when its
// owner write landed and its SLA timer. Pages walk the (tenant_id, decided_at, id) index, so a report
// reads only its window, a page at a time.
import type { DecisionFact, PoolAssignments, SlaTimerState } from '../reports/reports.js';
import type { Db } from './db.js';
import { StorageError } from './errors.js';
import { DECIDED_AGAIN, resolvedDestinationSchema, stringListSchema } from './model.js';
import { readJson } from './shared.js';

/** Decisions decided at `since` or later and before `until` (epoch ms). */
export interface ReportWindow {
  since: number;
  until: number;
}

interface FactRow {
  id: number;
  lead_id: string;
  decided_at: number;
  event_at: number | null;
  route_name: string | null;
  pool: string | null;
  owner: string | null;
  destination: string;
  fallbacks: string | null;
  owner_written_at: number | string | null;
  sla_state: SlaTimerState | null;
  sla_due_at: number | null;
  sla_outcome: string | null;
  first_touch_at: number | null;
  reminders: number | string;
  reroutes: number | string;
  escalations: number | string;
}

const PAGE = 1_000;

/** A decision `d` the lead was not decided again after (`DECIDED_AGAIN` bound after it). */
const NOT_DECIDED_AGAIN = `NOT EXISTS (SELECT 1 FROM decisions again WHERE again.tenant_id = d.tenant_id
  AND again.decision_key = d.decision_key || ?)`;

function checkedWindow(window: ReportWindow): ReportWindow {
  if (!Number.isFinite(window.since) || !Number.isFinite(window.until) || window.since >= window.until)
    throw new StorageError('invalid', 'a report window needs since < until');
  return window;
}

/** Steps done on a decision's timer, of a kind the caller appends (through sla_steps_lead). */
const STEP_COUNT = `(SELECT COUNT(*) FROM sla_steps s
  WHERE s.tenant_id = d.tenant_id AND s.lead_id = d.lead_id AND s.timer_id = t.id AND s.status = 'done'`;

/** Numbers from an aggregate: PostgreSQL answers MIN over BIGINT as text. */
const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

export class ReportRepository {
  constructor(private readonly db: Db) {}

  /**
   * The window's decisions as report facts, oldest first; hold decisions are left out (not routed yet),
   * and so is a decision the lead was decided again after (its owner refused as inactive: it wrote
   * nothing, and the decision made again is the lead's fact).
   */
  async decisionFacts(tenantId: string, window: ReportWindow): Promise<DecisionFact[]> {
    const { since, until } = checkedWindow(window);
    const facts: DecisionFact[] = [];
    let after = { at: since, id: 0 };
    for (;;) {
      const rows = await this.db.all<FactRow>(
        `SELECT d.id, d.lead_id, d.decided_at, d.event_at, d.route_name, d.pool, d.owner, d.destination,
           d.fallbacks,
           (SELECT MIN(a.updated_at) FROM actions a
            WHERE a.tenant_id = d.tenant_id AND a.decision_key = d.decision_key
              AND a.kind IN ('set_owner', 'set_queue') AND a.status = 'done') AS owner_written_at,
           t.state AS sla_state, t.due_at AS sla_due_at, t.outcome AS sla_outcome, t.first_touch_at,
           ${STEP_COUNT} AND s.kind = 'remind') AS reminders,
           ${STEP_COUNT} AND s.kind = 'reroute') AS reroutes,
           ${STEP_COUNT} AND s.kind = 'escalate') AS escalations
         FROM decisions d
         LEFT JOIN sla_timers t
           ON t.tenant_id = d.tenant_id AND t.lead_id = d.lead_id AND t.decision_key = d.decision_key
         WHERE d.tenant_id = ? AND d.decided_at >= ? AND d.decided_at < ?
           AND (d.decided_at > ? OR d.id > ?)
           AND ${NOT_DECIDED_AGAIN}
         ORDER BY d.decided_at, d.id LIMIT ?`,
        [tenantId, after.at, until, after.at, after.id, DECIDED_AGAIN, PAGE],
      );
      for (const r of rows) {
        const destination = readJson(
          r.destination,
          `decisions.destination of row ${r.id}`,
          resolvedDestinationSchema,
        );
        if (destination.kind === 'hold') continue;
        facts.push({
          leadId: r.lead_id,
          decidedAt: Number(r.decided_at),
          eventAt: num(r.event_at),
          rule: r.route_name,
          pool: r.pool,
          owner: r.owner,
          queue: destination.kind === 'queue' ? destination.name : null,
          ownerWrittenAt: num(r.owner_written_at),
          fallbacks:
            r.fallbacks === null
              ? []
              : readJson(r.fallbacks, `decisions.fallbacks of row ${r.id}`, stringListSchema),
          sla:
            r.sla_state === null || r.sla_due_at === null
              ? null
              : {
                  state: r.sla_state,
                  dueAt: Number(r.sla_due_at),
                  outcome: r.sla_outcome,
                  firstTouchAt: num(r.first_touch_at),
                },
          steps: {
            reminders: Number(r.reminders),
            reroutes: Number(r.reroutes),
            escalations: Number(r.escalations),
          },
        });
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < PAGE) return facts;
      after = { at: Number(last.decided_at), id: Number(last.id) };
    }
  }

  /**
   * The leads each pool gave each rep in the window, counted in the database: the distribution report
   * without a fact per decision (the Team page). Counted as `decisionFacts` counts them: a decision the
   * lead was decided again after is left out, and a hold has no owner.
   */
  async poolAssignments(tenantId: string, window: ReportWindow): Promise<PoolAssignments[]> {
    const { since, until } = checkedWindow(window);
    const rows = await this.db.all<{ pool: string; owner: string; leads: number | string }>(
      `SELECT d.pool, d.owner, COUNT(*) AS leads FROM decisions d
       WHERE d.tenant_id = ? AND d.decided_at >= ? AND d.decided_at < ?
         AND d.pool IS NOT NULL AND d.owner IS NOT NULL AND ${NOT_DECIDED_AGAIN}
       GROUP BY d.pool, d.owner ORDER BY d.pool, d.owner`,
      [tenantId, since, until, DECIDED_AGAIN],
    );
    return rows.map((r) => ({ pool: r.pool, owner: r.owner, leads: Number(r.leads) }));
  }
}
