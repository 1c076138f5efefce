// What the settings tab's health page reads about one tenant's work: the age of its oldest waiting
// inbox item, and its recent failed CRM writes with their reasons; and, for Activity, which of the
// leads found are dead-lettered.
import type { Db } from './db.js';
import { chunk, KEY_CHUNK, marks } from './shared.js';

export interface FailedAction {
  leadId: string;
  kind: string;
  error: string;
  at: number;
}

export interface DeadLetteredLead {
  reason: string;
  /** When it was dead-lettered. */
  at: number;
}

export class TenantHealthRepository {
  constructor(private readonly db: Db) {}

  /** When the tenant's oldest pending inbox item was recorded, or null with none waiting. */
  async oldestPendingAt(tenantId: string): Promise<number | null> {
    const row = await this.db.get<{ at: number | string | null }>(
      `SELECT MIN(created_at) AS at FROM inbox WHERE tenant_id = ? AND state = 'pending'`,
      [tenantId],
    );
    return row?.at === null || row?.at === undefined ? null : Number(row.at);
  }

  /** Latest first. */
  async failedActions(tenantId: string, limit: number): Promise<FailedAction[]> {
    const rows = await this.db.all<{
      lead_id: string;
      kind: string;
      error: string | null;
      updated_at: number | string;
    }>(
      `SELECT lead_id, kind, error, updated_at FROM actions WHERE tenant_id = ? AND status = 'failed'
       ORDER BY updated_at DESC, id DESC LIMIT ?`,
      [tenantId, limit],
    );
    return rows.map((r) => ({
      leadId: r.lead_id,
      kind: r.kind,
      error: r.error ?? 'no reason recorded',
      at: Number(r.updated_at),
    }));
  }

  /** The leads among `leadIds` whose work is dead-lettered now: the latest dead letter of each. */
  async deadLetteredLeads(
    tenantId: string,
    leadIds: readonly string[],
  ): Promise<Map<string, DeadLetteredLead>> {
    const found = new Map<string, DeadLetteredLead>();
    for (const part of chunk([...new Set(leadIds)], KEY_CHUNK)) {
      const rows = await this.db.all<{
        object_id: string;
        last_error: string | null;
        updated_at: number | string;
      }>(
        `SELECT object_id, last_error, updated_at FROM inbox
         WHERE tenant_id = ? AND state = 'failed' AND object_id IN (${marks(part.length)})
         ORDER BY updated_at, id`,
        [tenantId, ...part],
      );
      for (const r of rows)
        found.set(r.object_id, { reason: r.last_error ?? 'no reason recorded', at: Number(r.updated_at) });
    }
    return found;
  }
}
