// How a tenant's CRM calls ended, counted per minute in the shared database: every process (web or
// worker) adds what it tallied in memory since its last flush, so the Health page sees the whole
// deployment's recent errors and 429s, not one process's counters since it started.
import type { Db } from './db.js';
import { StorageError } from './errors.js';
import { chunk, ROW_CHUNK } from './shared.js';

/** A call answered, refused with a 429, or failed with one of the connectors' error kinds (other: anything else thrown). */
export const CRM_CALL_OUTCOMES = [
  'ok',
  'rate_limited',
  'transient',
  'auth',
  'not_found',
  'invalid',
  'other',
] as const;
export type CrmCallOutcomeKind = (typeof CRM_CALL_OUTCOMES)[number];

export const MINUTE_MS = 60_000;

export interface CrmCallCount {
  tenantId: string;
  /** Start of the minute the calls ended in (epoch ms, a multiple of a minute). */
  minute: number;
  outcome: CrmCallOutcomeKind;
  calls: number;
}

export type CrmCallTotals = Record<CrmCallOutcomeKind, number>;

const NO_CALLS: CrmCallTotals = {
  ok: 0,
  rate_limited: 0,
  transient: 0,
  auth: 0,
  not_found: 0,
  invalid: 0,
  other: 0,
};

const isOutcome = (s: string): s is CrmCallOutcomeKind =>
  (CRM_CALL_OUTCOMES as readonly string[]).includes(s);

export class CrmCallRepository {
  constructor(private readonly db: Db) {}

  /** Adds counts to their minute's rows (one row per tenant, minute and outcome), in one transaction. */
  async add(counts: readonly CrmCallCount[]): Promise<void> {
    for (const c of counts)
      if (c.minute % MINUTE_MS !== 0 || !Number.isInteger(c.calls) || c.calls <= 0)
        throw new StorageError('invalid', `a CRM call count needs a whole minute and calls > 0`);
    if (counts.length === 0) return;
    await this.db.transaction(async (tx) => {
      // Each key once per statement: PostgreSQL refuses to update one row twice in an upsert.
      for (const part of chunk(merged(counts), ROW_CHUNK))
        await tx.run(
          `INSERT INTO crm_call_counts (tenant_id, minute, outcome, calls)
           VALUES ${part.map(() => '(?, ?, ?, ?)').join(', ')}
           ON CONFLICT (tenant_id, minute, outcome) DO UPDATE SET calls = crm_call_counts.calls + excluded.calls`,
          part.flatMap((c) => [c.tenantId, c.minute, c.outcome, c.calls]),
        );
    });
  }

  /** The tenant's calls by outcome in the minutes that started at or after `since`. */
  async totalsSince(tenantId: string, since: number): Promise<CrmCallTotals> {
    const rows = await this.db.all<{ outcome: string; calls: number | string }>(
      `SELECT outcome, SUM(calls) AS calls FROM crm_call_counts WHERE tenant_id = ? AND minute >= ?
       GROUP BY outcome`,
      [tenantId, since],
    );
    const totals: CrmCallTotals = { ...NO_CALLS };
    for (const r of rows) if (isOutcome(r.outcome)) totals[r.outcome] = Number(r.calls);
    return totals;
  }
}

function merged(counts: readonly CrmCallCount[]): CrmCallCount[] {
  const byKey = new Map<string, CrmCallCount>();
  for (const c of counts) {
    const key = JSON.stringify([c.tenantId, c.minute, c.outcome]);
    const seen = byKey.get(key);
    byKey.set(key, seen === undefined ? { ...c } : { ...seen, calls: seen.calls + c.calls });
  }
  return [...byKey.values()];
}
