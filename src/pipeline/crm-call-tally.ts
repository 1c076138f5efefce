// CRM call outcomes tallied in memory per tenant and minute, and added to the shared database now and
// then (the worker's housekeeping lane, or a web process's timer): one upsert per tenant, minute and
// outcome per flush instead of a write per call, and every process's calls visible to the Health page.
import { crmCallKind } from '../metrics.js';
import {
  MINUTE_MS,
  type CrmCallCount,
  type CrmCallOutcomeKind,
  type CrmCallRepository,
  type Storage,
} from '../storage/index.js';

/** Time between flushes of a process's tally: the Health page counts by minute, over the last hour. */
export const CRM_CALLS_FLUSH_MS = 15_000;

export interface CrmCallTallyDeps {
  counts: Pick<CrmCallRepository, 'add'>;
  /** The tenant a provider's portal or org belongs to (the limiters know calls by portal). */
  findTenant: Storage['findTenant'];
  clock: () => number;
}

export class CrmCallTally {
  /** Calls by provider, portal, minute and outcome since the last flush. */
  private pending = new Map<
    string,
    { provider: string; portal: string; minute: number; outcome: CrmCallOutcomeKind; calls: number }
  >();

  constructor(private readonly deps: CrmCallTallyDeps) {}

  /** One call of `portal` ended, with `error` if it threw. */
  record(provider: string, portal: string, error: unknown): void {
    const minute = Math.floor(this.deps.clock() / MINUTE_MS) * MINUTE_MS;
    const outcome = crmCallKind(error);
    const key = JSON.stringify([provider, portal, minute, outcome]);
    const seen = this.pending.get(key);
    if (seen === undefined) this.pending.set(key, { provider, portal, minute, outcome, calls: 1 });
    else seen.calls += 1;
  }

  /**
   * Adds the tally to the database. Calls ending meanwhile go to the next flush; a failed write keeps
   * its counts for the next one. A portal no tenant has (uninstalled and deleted) is dropped.
   */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const taken = this.pending;
    this.pending = new Map();
    try {
      const tenants = new Map<string, string | null>();
      const counts: CrmCallCount[] = [];
      for (const c of taken.values()) {
        const key = JSON.stringify([c.provider, c.portal]);
        if (!tenants.has(key))
          tenants.set(key, (await this.deps.findTenant(c.provider, c.portal))?.id ?? null);
        const tenantId = tenants.get(key);
        if (tenantId !== null && tenantId !== undefined)
          counts.push({ tenantId, minute: c.minute, outcome: c.outcome, calls: c.calls });
      }
      await this.deps.counts.add(counts);
    } catch (error) {
      for (const [key, c] of taken) {
        const seen = this.pending.get(key);
        if (seen === undefined) this.pending.set(key, c);
        else seen.calls += c.calls;
      }
      throw error;
    }
  }
}
