// What the worker reads from a tenant's CRM once and reuses: its directory (owners, teams, queues; also
// kept in storage, so a restart or another worker need not read it again), its sequence list, and the
// accounts its bulk jobs looked up (account-cache.ts). All are single-flight per tenant (lanes that miss
// at once share one read) and evicted when idle.
import type { Directory } from '../../connectors/connector.js';
import { SingleFlightCache } from '../../connectors/shared/single-flight.js';
import { AccountCache } from './account-cache.js';
import { TenantConfigError } from './failures.js';
import type { Storage } from '../storage/index.js';
import type { BulkHooks } from './bulk/runner.js';
import type { TenantRuntime } from './runtime.js';

type Sequence = { id: string; name: string };

export interface CrmListsOptions {
  storage: Storage;
  clock: () => number;
  /** How long a directory and a sequence list are reused. */
  ttlMs: number;
  /** How long a bulk job reuses an account lookup (0: never). */
  accountTtlMs: number;
  /** Per tenant, how long both stay in memory after their last use, and for how many tenants at most. */
  idleMs: number;
  maxTenants: number;
  bulk?: BulkHooks | undefined;
}

export class CrmLists {
  private readonly directories: SingleFlightCache<string, Directory>;
  private readonly sequences: SingleFlightCache<string, Sequence[]>;
  /** Bulk jobs' account lookups, per tenant and job. */
  readonly accounts: AccountCache;

  constructor(private readonly opts: CrmListsOptions) {
    const bounds = { ttlMs: opts.ttlMs, idleMs: opts.idleMs, maxEntries: opts.maxTenants, now: opts.clock };
    // A directory's age is its fetch time, whether read from the CRM or from storage.
    this.directories = new SingleFlightCache({ ...bounds, loadedAt: (d) => d.fetchedAt });
    this.sequences = new SingleFlightCache(bounds);
    this.accounts = new AccountCache({
      clock: opts.clock,
      ttlMs: opts.accountTtlMs,
      tenantIdleMs: opts.idleMs,
      maxTenants: opts.maxTenants,
    });
  }

  /** The tenant's directory: from memory, else storage, else the CRM, reused for `ttlMs`. */
  directory(runtime: TenantRuntime, now: number): Promise<Directory> {
    const tenantId = runtime.tenantId;
    const previous = this.directories.peek(tenantId);
    return this.directories.get(
      tenantId,
      async () => {
        const stored = await this.opts.storage.loadDirectory(tenantId);
        if (stored !== null && this.directories.isFresh(stored.fetchedAt, now)) return stored;
        // Stamped with our clock, so freshness is judged on one time line.
        const directory = { ...(await runtime.connector.directory()), fetchedAt: now };
        await this.opts.bulk?.directoryRefreshed(runtime, stored ?? previous ?? null, directory, now);
        await this.opts.storage.saveDirectory(tenantId, directory);
        return directory;
      },
      { now },
    );
  }

  /** The id of the tenant's sequence called `name` (case and outer spaces aside). */
  async sequenceId(runtime: TenantRuntime, name: string, now: number): Promise<string> {
    const wanted = name.trim().toLowerCase();
    const find = (list: Sequence[]): Sequence | undefined =>
      list.find((s) => s.name.trim().toLowerCase() === wanted);
    // A name we do not know may be a sequence created since the list was read: read it again once.
    const list = await this.sequences.get(runtime.tenantId, () => runtime.connector.sequences(), {
      now,
      usable: (l) => find(l) !== undefined,
    });
    const hit = find(list);
    if (hit === undefined) throw new TenantConfigError(`no sequence named '${name}'`);
    return hit.id;
  }

  /**
   * Reads the tenant's sequence list now when its rules name a sequence (enrolling looks the name up in
   * it), so a first batch reads it beside its other first reads rather than after deciding.
   */
  async prepareSequences(runtime: TenantRuntime, now: number): Promise<void> {
    const { routes, fallbackActions } = runtime.ruleSet;
    const named = [fallbackActions, ...routes.map((r) => r.actions)].some(
      (a) => a.sequence !== undefined && a.sequence.id === undefined,
    );
    if (named) await this.sequences.get(runtime.tenantId, () => runtime.connector.sequences(), { now });
  }

  /** Drops the tenant's sequence list if it still gives `id`, which the CRM no longer knows. */
  forgetSequence(tenantId: string, id: string): void {
    if (this.sequences.peek(tenantId)?.some((s) => s.id === id) === true) this.sequences.delete(tenantId);
  }

  /**
   * Drops the tenant's directory here and marks the stored one stale (for every process), so the next
   * decision reads the CRM's users again: a write named an owner the CRM has deactivated since.
   */
  async forgetDirectory(tenantId: string): Promise<void> {
    this.directories.delete(tenantId);
    const stored = await this.opts.storage.loadDirectory(tenantId);
    if (stored !== null) await this.opts.storage.saveDirectory(tenantId, { ...stored, fetchedAt: 0 });
  }

  /** Lets go of idle tenants' lists. */
  evict(): void {
    this.directories.evict();
    this.sequences.evict();
    this.accounts.evict();
  }
}
