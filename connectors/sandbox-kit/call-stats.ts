// Counts the API calls each tenant (a HubSpot portal, a Salesforce org) made, by kind, and every refusal
// by cause: the tenant's real budget (what a router must never exceed) versus faults injected for tests.
// Benchmarks and the scale tests read it instead of guessing from the outside.

export interface TenantCallStats {
  /** Calls let through to the API, by kind (their own answer may still be an error). */
  accepted: Record<string, number>;
  /** Refusals because the tenant's budget was spent, by the CRM's policy or error name. */
  rateLimited: Record<string, number>;
  /** Faults injected by the sandbox (429, 500, timeout, lost), by kind. */
  injected: Record<string, number>;
}

const bump = (r: Record<string, number>, key: string): void => {
  r[key] = (r[key] ?? 0) + 1;
};

export class CallStats<K extends string | number> {
  private readonly tenants = new Map<K, TenantCallStats>();

  private stats(key: K): TenantCallStats {
    let s = this.tenants.get(key);
    if (s === undefined) {
      s = { accepted: {}, rateLimited: {}, injected: {} };
      this.tenants.set(key, s);
    }
    return s;
  }

  accepted(key: K, kind: string): void {
    bump(this.stats(key).accepted, kind);
  }

  rateLimited(key: K, policy: string): void {
    bump(this.stats(key).rateLimited, policy);
  }

  injected(key: K, fault: string): void {
    bump(this.stats(key).injected, fault);
  }

  /** A copy of one tenant's counts (all zero when it made no call). */
  of(key: K): TenantCallStats {
    const s = this.tenants.get(key);
    return {
      accepted: { ...s?.accepted },
      rateLimited: { ...s?.rateLimited },
      injected: { ...s?.injected },
    };
  }

  reset(): void {
    this.tenants.clear();
  }
}

export const totalCalls = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
