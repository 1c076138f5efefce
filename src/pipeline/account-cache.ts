// Accounts a bulk job (backfill, reassign) has already looked up, per tenant: domain → the accounts
// matching it, none included (a domain without an account is answered too). A job's batches share the
// domains they look up for `ttlMs`, so a domain met again in the job's next batches costs no search; the
// CRM's search budget (HubSpot: 5/s) otherwise goes on looking the same companies up batch after batch.
//
// Staleness is the price: for up to `ttlMs` a job routes on the owner an account had when the job first
// looked it up, and does not see an account created meanwhile. Live leads never read this cache (a new
// lead is routed on the CRM's answer of the moment), and each job has its own entries (a reassign started
// after accounts were handed to a new owner does not see what an earlier job looked up).
//
// Bounded like the tenant's runtime: a tenant's entries go when it has been idle for `tenantIdleMs`, or
// when more than `maxTenants` tenants are held; within a tenant, entries unused for `ttlMs` go, and the
// least recently used beyond `maxDomains`. Lookups are single-flight: two batches of a job that miss
// the same domain at once share one search.
import { IdleCache } from '../../connectors/shared/idle-cache.js';
import { SingleFlightCache } from '../../connectors/shared/single-flight.js';
import type { Account } from '../core/types.js';
import type { AccountSource } from './lead-inputs.js';

export interface AccountCacheOptions {
  clock: () => number;
  /** How long a looked-up domain is reused within a job; 0 turns the cache off. */
  ttlMs: number;
  /** Per tenant, how long its entries stay after its last lookup, and for how many tenants at most. */
  tenantIdleMs: number;
  maxTenants: number;
  /** Domains held per tenant at most (default 20,000). */
  maxDomains?: number | undefined;
}

const DEFAULT_MAX_DOMAINS = 20_000;

export class AccountCache {
  private readonly tenants: IdleCache<string, SingleFlightCache<string, Account[]>>;

  constructor(private readonly opts: AccountCacheOptions) {
    this.tenants = new IdleCache({
      idleMs: opts.tenantIdleMs,
      maxEntries: opts.maxTenants,
      now: opts.clock,
    });
  }

  get enabled(): boolean {
    return this.opts.ttlMs > 0;
  }

  /**
   * The job's (`scope`'s) account lookups for the tenant, through the cache: held domains are answered
   * from memory while fresh, the others through `crm` in one call, and kept. A failed call keeps nothing.
   */
  source(tenantId: string, scope: string, crm: AccountSource, now: number): AccountSource {
    if (!this.enabled) return crm;
    return async (domains) => {
      const cache = this.tenant(tenantId);
      // Misses are gathered first, then looked up in one call that every missed domain's load shares.
      const missed: string[] = [];
      let release!: () => void;
      const gathered = new Promise<void>((resolve) => (release = resolve));
      let lookup: Promise<Map<string, Account[]>> | undefined;
      const answers = domains.map((domain) =>
        cache.get(
          `${scope}\u0000${domain}`,
          () => {
            missed.push(domain);
            return gathered.then(async () => (await (lookup ??= crm(missed))).get(domain) ?? []);
          },
          { now },
        ),
      );
      release();
      const lists = await Promise.all(answers);
      return new Map(domains.map((domain, k) => [domain, lists[k] ?? []]));
    };
  }

  /** Domains held for the tenant (all jobs), for tests and metrics. */
  held(tenantId: string): number {
    return this.tenants.get(tenantId)?.size ?? 0;
  }

  /** Lets go of idle tenants' entries, and of each tenant's entries unused for the TTL. */
  evict(): void {
    this.tenants.evict();
    for (const cache of this.tenants.values()) cache.evict();
  }

  private tenant(tenantId: string): SingleFlightCache<string, Account[]> {
    let cache = this.tenants.get(tenantId);
    if (cache === undefined) {
      cache = new SingleFlightCache<string, Account[]>({
        now: this.opts.clock,
        ttlMs: this.opts.ttlMs,
        idleMs: this.opts.ttlMs,
        maxEntries: this.opts.maxDomains ?? DEFAULT_MAX_DOMAINS,
      });
      this.tenants.set(tenantId, cache);
    }
    return cache;
  }
}
