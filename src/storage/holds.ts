// Holds: a lead waiting for missing data, until it arrives or the hold times out.
import type { Decision } from '../core/types.js';
import type { Db } from './db.js';
import { stringListSchema, type Hold, type HoldStateName } from './model.js';
import { chunk, dueRows, KEY_CHUNK, marks, readJson } from './shared.js';

interface HoldRow {
  id: number;
  tenant_id: string;
  lead_id: string;
  route: string;
  fields: string;
  since: number;
  until: number;
  state: HoldStateName;
  released_at: number | null;
}

const toHold = (r: HoldRow): Hold => ({
  id: r.id,
  tenantId: r.tenant_id,
  leadId: r.lead_id,
  route: r.route,
  fields: readJson(r.fields, `holds.fields of row ${r.id}`, stringListSchema),
  since: r.since,
  until: r.until,
  state: r.state,
  releasedAt: r.released_at,
});

export class HoldRepository {
  constructor(private readonly db: Db) {}

  /** Places a hold; false when the lead already has an open one (which is kept, with its `since`). */
  async placeHold(
    tenantId: string,
    hold: { leadId: string; route: string; fields: string[]; since: number; until: number },
  ): Promise<boolean> {
    return this.placeHoldWith(this.db, tenantId, hold);
  }

  async placeHoldWith(
    db: Db,
    tenantId: string,
    hold: { leadId: string; route: string; fields: string[]; since: number; until: number },
  ): Promise<boolean> {
    const r = await db.run(
      `INSERT INTO holds (tenant_id, lead_id, route, fields, since, until, state)
       VALUES (?, ?, ?, ?, ?, ?, 'held') ON CONFLICT DO NOTHING`,
      [tenantId, hold.leadId, hold.route, JSON.stringify(hold.fields), hold.since, hold.until],
    );
    return r.changes === 1;
  }

  async activeHold(tenantId: string, leadId: string): Promise<Hold | null> {
    const row = await this.db.get<HoldRow>(
      `SELECT * FROM holds WHERE tenant_id = ? AND lead_id = ? AND state = 'held'`,
      [tenantId, leadId],
    );
    return row === undefined ? null : toHold(row);
  }

  /** Open holds whose timeout has passed, oldest first, across tenants unless one is given. */
  async dueHolds(
    now: number,
    options: { tenantId?: string | undefined; limit?: number | undefined } = {},
  ): Promise<Hold[]> {
    return (
      await dueRows<HoldRow>(this.db, `holds WHERE state = 'held' AND until`, 'until', now, options)
    ).map(toHold);
  }

  /** held → released (data arrived) or timed_out. False if it was no longer held. */
  async releaseHold(
    tenantId: string,
    holdId: number,
    outcome: Exclude<HoldStateName, 'held'>,
    now: number,
  ): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE holds SET state = ?, released_at = ? WHERE tenant_id = ? AND id = ? AND state = 'held'`,
      [outcome, now, tenantId, holdId],
    );
    return r.changes === 1;
  }

  /**
   * Inside the caller's transaction (a commit of decisions): a hold decision places the lead's hold, any other releases it. Leads with a hold decision in the
   * batch are handled in order; all others are released in one statement.
   */
  async settleWith(tx: Db, tenantId: string, decisions: readonly Decision[], now: number): Promise<void> {
    const holding = new Set(decisions.filter((d) => d.destination.kind === 'hold').map((d) => d.leadId));
    const release = async (leadIds: readonly string[]): Promise<void> => {
      for (const part of chunk([...new Set(leadIds)], KEY_CHUNK)) {
        await tx.run(
          `UPDATE holds SET state = 'released', released_at = ?
           WHERE tenant_id = ? AND lead_id IN (${marks(part.length)}) AND state = 'held'`,
          [now, tenantId, ...part],
        );
      }
    };
    await release(decisions.filter((d) => !holding.has(d.leadId)).map((d) => d.leadId));
    for (const decision of decisions) {
      if (!holding.has(decision.leadId)) continue;
      const dest = decision.destination;
      if (dest.kind === 'hold') {
        await this.placeHoldWith(tx, tenantId, {
          leadId: decision.leadId,
          route: decision.route?.name ?? '(fallback)',
          fields: dest.fields,
          since: decision.decidedAt,
          until: dest.until,
        });
      } else {
        await release([decision.leadId]);
      }
    }
  }
}
