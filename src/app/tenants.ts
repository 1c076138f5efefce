// Per-tenant runtime for the worker: a HubSpot connector on the tenant's own tokens and rate limiter,
// and the tenant's published rule set. Tokens are kept encrypted by storage and refreshed ahead of expiry.
import { z } from 'zod';
import { CrmError, type ConnectorProfile } from '../../connectors/connector.js';
import { HubSpotConnector } from '../../connectors/hubspot/connector.js';
import {
  TokenManager,
  type HubSpotOAuth,
  type TokenSet,
  type TokenStore,
} from '../../connectors/hubspot/oauth.js';
import { IdleCache } from '../../connectors/shared/idle-cache.js';
import type { LimiterFactory } from '../../connectors/shared/limiter.js';
import type { RuleSet, Team } from '../core/types.js';
import { TenantUninstalledError, type TenantRegistry, type TenantRuntime } from '../pipeline/runtime.js';
import { formatDiagnostic, loadRuleSet, loadTeam } from '../rules/index.js';
import { TenantConfigRepository, type Storage, type Tenant } from '../storage/index.js';

const tokenSetSchema = z.object({
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1),
  expiresAt: z.number(),
  hubId: z.number().optional(),
  scopes: z.array(z.string()).optional(),
});

/** How a token set is kept in the tenant row (which storage encrypts). */
export function encodeTokenSet(tokens: TokenSet): string {
  return JSON.stringify(tokens);
}

export function decodeTokenSet(text: string): TokenSet {
  return tokenSetSchema.parse(JSON.parse(text));
}

/** The OAuth token manager's store, over the tenant rows: one HubSpot portal is one tenant. */
export function tenantTokenStore(storage: Storage, clock: () => number): TokenStore {
  return {
    async load(portalId) {
      const tenant = await storage.findTenant('hubspot', portalId);
      if (tenant === null) return null;
      const text = await storage.getTenantToken(tenant.id);
      return text === null ? null : decodeTokenSet(text);
    },
    async save(portalId, tokens) {
      const tenant = await storage.findTenant('hubspot', portalId);
      if (tenant === null) throw new CrmError('auth', `portal ${portalId} is not installed`);
      await storage.setTenantToken(tenant.id, encodeTokenSet(tokens), clock());
    },
  };
}

export interface HubSpotTenantsOptions {
  storage: Storage;
  oauth: HubSpotOAuth;
  limiters: LimiterFactory;
  /** What the connectors say about HubSpot; their calls go through `limiters`, built from its buckets. */
  profile?: ConnectorProfile | undefined;
  /** The HubSpot API base (the sandbox's URL in sandbox mode). */
  basePath: string;
  /**
   * The team of a tenant that has none stored (installed before teams were stored per tenant): the
   * TEAM file; without it, the rule set's inline team. A tenant's published team always wins.
   */
  team: Team | undefined;
  clock: () => number;
  /** Told once when a refresh shows the portal uninstalled the app (after the tenant was marked). */
  onUninstalled?: ((tenant: Tenant) => void) | undefined;
  /** How long a tenant's connector, limiter and rule set stay in memory after its last use. */
  idleMs?: number | undefined;
  /** Tenants held in memory at most (least recently used evicted first). */
  maxTenants?: number | undefined;
}

const EMPTY_TEAM: Team = { reps: {}, queues: {} };

/**
 * HubSpot refused the refresh token for good: `400 {"error":"invalid_grant","status":"BAD_REFRESH_TOKEN",
 * ...}` (hubspot.md §8.3). A refresh token stops working when the portal uninstalls the app.
 */
export function isRevokedGrant(error: unknown): boolean {
  return (
    error instanceof CrmError &&
    error.kind === 'auth' &&
    error.details.status === 400 &&
    (error.details.code === 'invalid_grant' || error.details.code === 'BAD_REFRESH_TOKEN')
  );
}

const DEFAULT_IDLE_MS = 10 * 60_000;
const DEFAULT_MAX_TENANTS = 1_000;

export class HubSpotTenants implements TenantRegistry {
  private readonly tokens: TokenManager;
  /** Per tenant: its connector (HubSpot client, owner cache) on the portal's limiter. */
  private readonly connectors: IdleCache<string, { portalId: string; connector: HubSpotConnector }>;
  /** Per tenant: its published rule set and team, loaded; `version` names both. */
  private readonly ruleSets: IdleCache<string, { version: string; ruleSet: RuleSet; team: Team | undefined }>;
  private readonly config: TenantConfigRepository;

  constructor(private readonly opts: HubSpotTenantsOptions) {
    this.tokens = new TokenManager({
      oauth: opts.oauth,
      store: tenantTokenStore(opts.storage, opts.clock),
      now: opts.clock,
    });
    const bounds = {
      idleMs: opts.idleMs ?? DEFAULT_IDLE_MS,
      maxEntries: opts.maxTenants ?? DEFAULT_MAX_TENANTS,
      now: opts.clock,
    };
    this.connectors = new IdleCache({
      ...bounds,
      // A limiter with calls in flight stays: a second one for the portal would double its pace.
      busy: ({ portalId }) => opts.limiters.busy(portalId),
      onEvict: (_tenantId, { portalId }) => void opts.limiters.release(portalId).catch(() => undefined),
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
    const ruleset = await this.opts.storage.activeRuleset(tenantId);
    if (ruleset === null) throw new CrmError('invalid', `tenant ${tenantId} has no published rule set`);

    // Read per batch: a publication takes effect on the tenant's next batch.
    const storedTeam = await this.config.activeTeam(tenantId);
    const version = `${ruleset.version}/${storedTeam?.version ?? 'default'}`;
    const cachedRules = this.ruleSets.get(tenantId);
    let loadedRules = cachedRules?.version === version ? cachedRules : undefined;
    if (loadedRules === undefined) {
      let team = this.opts.team;
      if (storedTeam !== null) {
        const loadedTeam = loadTeam(storedTeam.source, `team ${storedTeam.version}`);
        if (!loadedTeam.ok)
          throw new CrmError(
            'invalid',
            `published team does not load: ${loadedTeam.errors.map(formatDiagnostic).join('; ')}`,
          );
        team = loadedTeam.team;
      }
      const loaded = loadRuleSet(ruleset.source, `rule set ${ruleset.version}`, {
        team,
        requireQueueTargets: true,
      });
      if (!loaded.ok)
        throw new CrmError(
          'invalid',
          `published rule set does not load: ${loaded.errors.map(formatDiagnostic).join('; ')}`,
        );
      loadedRules = { version, ruleSet: loaded.ruleSet, team };
      this.ruleSets.set(tenantId, loadedRules);
    }
    const { ruleSet, team } = loadedRules;

    const portalId = tenant.externalId;
    let connector = this.connectors.get(tenantId)?.connector;
    if (connector === undefined) {
      connector = new HubSpotConnector({
        portalId,
        accessToken: () => this.accessToken(tenant, portalId),
        limiter: this.opts.limiters.forPortal(portalId),
        basePath: this.opts.basePath,
        ...(this.opts.profile === undefined ? {} : { profile: this.opts.profile }),
      });
      this.connectors.set(tenantId, { portalId, connector });
    }
    return { tenantId, connector, ruleSet, team: team ?? ruleSet.team ?? EMPTY_TEAM };
  }

  async confirmUninstalled(tenantId: string): Promise<boolean> {
    const tenant = await this.opts.storage.getTenant(tenantId);
    if (tenant === null) return false;
    if (tenant.uninstalledAt !== null) return true;
    try {
      // A refresh is the one question HubSpot answers plainly: BAD_REFRESH_TOKEN once uninstalled.
      await this.tokens.forceRefresh(tenant.externalId);
      return false;
    } catch (error) {
      if (!isRevokedGrant(error)) return false;
      await this.uninstalled(tenant);
      return true;
    }
  }

  private async uninstalled(tenant: Tenant): Promise<void> {
    this.connectors.delete(tenant.id);
    if (await this.opts.storage.markTenantUninstalled(tenant.id, this.opts.clock())) {
      const marked = await this.opts.storage.getTenant(tenant.id);
      if (marked !== null) this.opts.onUninstalled?.(marked);
    }
  }

  /** A refused refresh token is the uninstall: the tenant is marked, its tokens deleted, its work waits. */
  private async accessToken(tenant: Tenant, portalId: string): Promise<string> {
    try {
      return await this.tokens.accessToken(portalId);
    } catch (error) {
      if (isRevokedGrant(error)) await this.uninstalled(tenant);
      // Another batch may have found the uninstall first and deleted the tokens under this one.
      else if ((await this.opts.storage.getTenant(tenant.id))?.uninstalledAt == null) throw error;
      throw new TenantUninstalledError(tenant.id);
    }
  }
}
