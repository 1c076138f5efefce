// Per-tenant runtime for the worker: the tenant's connector, built by the wiring registered for its CRM
// (its own credentials and rate limiter), and the tenant's published rule set and team; and what a
// refusal of the tenant's credentials means: an uninstall, or a pause while its CRM account's policy
// turns us away, whose checks resume it.
import { CrmError } from '../../connectors/connector.js';
import { IdleCache } from '../../connectors/shared/idle-cache.js';
import type { RuleSet, Team } from '../core/types.js';
import { TenantConfigError } from '../pipeline/failures.js';
import { TenantUninstalledError, type TenantRegistry, type TenantRuntime } from '../pipeline/runtime.js';
import { loadPublished } from '../rules/published.js';
import { TenantConfigRepository, type Storage, type Tenant, type TenantPause } from '../storage/index.js';
import type { CrmRegistry, TenantConnection } from './crms.js';

export interface TenantsOptions {
  storage: Storage;
  /** The CRMs by provider: a tenant's connector is built by the wiring of its provider. */
  crms: CrmRegistry;
  /**
   * The team of a tenant that has none stored (installed before teams were stored per tenant): the
   * TEAM file; without it, the rule set's inline team. A tenant's published team always wins.
   */
  team: Team | undefined;
  clock: () => number;
  /** Told once when the CRM shows the tenant uninstalled the app (after the tenant was marked). */
  onUninstalled?: ((tenant: Tenant) => void) | undefined;
  /** Told once when the tenant's CRM account starts refusing its credentials by policy (it pauses). */
  onPaused?: ((tenant: Tenant, pause: TenantPause) => void) | undefined;
  /** Told once when a paused tenant resumes: its credentials were tried again and not refused by policy. */
  onResumed?: ((tenant: Tenant, pause: TenantPause) => void) | undefined;
  /** How long a tenant's connector, limiter and rule set stay in memory after its last use. */
  idleMs?: number | undefined;
  /** Tenants held in memory at most (least recently used evicted first). */
  maxTenants?: number | undefined;
}

const EMPTY_TEAM: Team = { reps: {}, queues: {} };

const DEFAULT_IDLE_MS = 10 * 60_000;
const DEFAULT_MAX_TENANTS = 1_000;

/** How a paused tenant's credentials are tried again: after a minute, then ever less often, up to 15 min. */
export const PAUSE_CHECKS = { firstMs: 60_000, maxMs: 15 * 60_000 };

/**
 * Pure: when a tenant paused since `since` has its credentials tried next, after a check (or the refusal
 * that paused it) at `now`: the wait is as long as the pause so far — the checks' intervals double —
 * within PAUSE_CHECKS.
 */
export function nextPauseCheck(since: number, now: number, checks = PAUSE_CHECKS): number {
  return now + Math.min(checks.maxMs, Math.max(checks.firstMs, now - since));
}

export class Tenants implements TenantRegistry {
  /** Per tenant: its connector (client, owner cache) on the tenant's limiter. */
  private readonly connectors: IdleCache<string, TenantConnection>;
  /** Per tenant: its published rule set and team, loaded; `version` names both. */
  private readonly ruleSets: IdleCache<string, { version: string; ruleSet: RuleSet; team: Team | undefined }>;
  private readonly config: TenantConfigRepository;

  constructor(private readonly opts: TenantsOptions) {
    const bounds = {
      idleMs: opts.idleMs ?? DEFAULT_IDLE_MS,
      maxEntries: opts.maxTenants ?? DEFAULT_MAX_TENANTS,
      now: opts.clock,
    };
    this.connectors = new IdleCache({
      ...bounds,
      // A limiter with calls in flight stays: a second one for the tenant would double its pace.
      busy: (connection) => connection.busy(),
      onEvict: (_tenantId, connection) => void connection.release().catch(() => undefined),
    });
    this.ruleSets = new IdleCache(bounds);
    this.config = new TenantConfigRepository(opts.storage.db);
  }

  /** Tenants whose runtime this process holds. */
  get cached(): number {
    return this.connectors.size;
  }

  evictIdle(): number {
    return this.connectors.evict() + this.ruleSets.evict();
  }

  async runtime(tenantId: string): Promise<TenantRuntime> {
    const tenant = await this.opts.storage.getTenant(tenantId);
    if (tenant !== null && tenant.uninstalledAt !== null) {
      this.connectors.delete(tenantId);
      throw new TenantUninstalledError(tenantId);
    }
    if (tenant === null || !tenant.hasToken)
      throw new CrmError('auth', `tenant ${tenantId} is not installed`);
    const { ruleSet, team } = await this.rules(tenantId);

    let connection = this.connectors.get(tenantId);
    if (connection === undefined) {
      connection = this.opts.crms.get(tenant.provider).connect(tenant, {
        failed: (error, revoked) => this.credentialsFailed(tenant, error, revoked),
      });
      this.connectors.set(tenantId, connection);
    }
    const { connector } = connection;
    return { tenantId, connector, ruleSet, team: team ?? ruleSet.team ?? EMPTY_TEAM };
  }

  async ruleSet(tenantId: string): Promise<RuleSet> {
    return (await this.rules(tenantId)).ruleSet;
  }

  /** The tenant's published rule set and team, loaded once per version (read per batch). */
  private async rules(tenantId: string): Promise<{ ruleSet: RuleSet; team: Team | undefined }> {
    const ruleset = await this.opts.storage.activeRuleset(tenantId);
    if (ruleset === null) throw new TenantConfigError(`tenant ${tenantId} has no published rule set`);

    // Read per batch: a publication takes effect on the tenant's next batch.
    const storedTeam = await this.config.activeTeam(tenantId);
    const version = `${ruleset.version}/${storedTeam?.version ?? 'default'}`;
    const cachedRules = this.ruleSets.get(tenantId);
    let loadedRules = cachedRules?.version === version ? cachedRules : undefined;
    if (loadedRules === undefined) {
      const published = loadPublished(ruleset, storedTeam, this.opts.team);
      if (!published.ok) throw new TenantConfigError(published.message);
      loadedRules = { version, ruleSet: published.ruleSet, team: published.team };
      this.ruleSets.set(tenantId, loadedRules);
    }
    return loadedRules;
  }

  /**
   * `refusal`: what the CRM answered a call with. Only a 401, or a token refresh the CRM turned down
   * (Salesforce's invalid_grant, which carries no 401), may mean the grant is gone: then the CRM is asked.
   * Absent: the tenant's credentials were refused when tried on their own (a paused tenant's check).
   */
  async confirmUninstalled(tenantId: string, refusal?: CrmError): Promise<boolean> {
    const tenant = await this.opts.storage.getTenant(tenantId);
    if (tenant === null) return false;
    if (tenant.uninstalledAt !== null) return true;
    if (
      refusal !== undefined &&
      refusal.details.status !== 401 &&
      this.opts.crms.find(tenant.provider)?.refusedRefresh?.(refusal) !== true
    )
      return false;
    let revoked = false;
    try {
      revoked = await this.opts.crms.get(tenant.provider).grantRevoked(tenant);
    } catch {
      // Not a plain answer: the tenant stays installed.
    }
    if (revoked) await this.uninstalled(tenant);
    return revoked;
  }

  async confirmPaused(tenantId: string, refusal: CrmError): Promise<boolean> {
    const tenant = await this.opts.storage.getTenant(tenantId);
    if (tenant === null) return false;
    const reason = this.opts.crms.find(tenant.provider)?.policyRefusal?.(refusal);
    return reason !== undefined && (await this.pause(tenant, reason)) !== null;
  }

  /**
   * The tenant's CRM account refuses its credentials by policy: the tenant pauses (said once), or stays
   * paused — a refusal met once its check was due counts as that check, so the next one is later. The
   * pause as stored; null when the tenant cannot pause (uninstalled).
   */
  async pause(tenant: Tenant, reason: string): Promise<TenantPause | null> {
    const now = this.opts.clock();
    const current = (await this.opts.storage.getTenant(tenant.id))?.pause ?? null;
    const checkAt =
      current !== null && current.checkAt > now
        ? current.checkAt
        : nextPauseCheck(current?.since ?? now, now);
    const state = await this.opts.storage.pauseTenant(tenant.id, { reason, checkAt }, now);
    if (state === null) return null;
    const pause = { since: state === 'began' || current === null ? now : current.since, reason, checkAt };
    if (state === 'began') this.opts.onPaused?.(tenant, pause);
    return pause;
  }

  async checkPaused(now: number): Promise<void> {
    for (const tenant of await this.opts.storage.pausedTenants(now)) {
      const pause = tenant.pause;
      if (pause === null) continue;
      // One process tries a tenant's credentials; the others find its check moved on.
      const next = nextPauseCheck(pause.since, now);
      if (!(await this.opts.storage.takePauseCheck(tenant.id, pause.checkAt, next, now))) continue;
      const wiring = this.opts.crms.find(tenant.provider);
      let refused = false;
      let refusal: string | undefined;
      try {
        await wiring?.refreshCredentials?.(tenant);
      } catch (error) {
        refused = true;
        refusal = wiring?.policyRefusal?.(error);
      }
      if (refusal !== undefined) {
        await this.opts.storage.pauseTenant(tenant.id, { reason: refusal, checkAt: next }, now);
        continue;
      }
      // Refused otherwise: a revoked grant is the uninstall (which ends the pause), as ever.
      if (refused && (await this.confirmUninstalled(tenant.id))) continue;
      // Accepted, or not plainly refused: routing resumes, and the work meets what the CRM says now.
      if (await this.opts.storage.resumeTenant(tenant.id, now)) this.opts.onResumed?.(tenant, pause);
    }
  }

  private async uninstalled(tenant: Tenant): Promise<void> {
    this.connectors.delete(tenant.id);
    if (await this.opts.storage.markTenantUninstalled(tenant.id, this.opts.clock())) {
      const marked = await this.opts.storage.getTenant(tenant.id);
      if (marked !== null) this.opts.onUninstalled?.(marked);
    }
  }

  /** A revoked grant is the uninstall: the tenant is marked, its tokens deleted, its work waits. */
  private async credentialsFailed(tenant: Tenant, error: unknown, revoked: boolean): Promise<never> {
    if (revoked) await this.uninstalled(tenant);
    // Another batch may have found the uninstall first and deleted the tokens under this one.
    else if ((await this.opts.storage.getTenant(tenant.id))?.uninstalledAt == null) throw error;
    throw new TenantUninstalledError(tenant.id);
  }
}
