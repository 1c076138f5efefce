// HubSpot as the app reaches it: one portal is one tenant; its OAuth tokens are kept (encrypted by
// storage) in the tenant row, held in memory while the portal has work here, and refreshed ahead of
// expiry; its connector runs on the portal's limiter.
import { z } from 'zod';
import { CrmError, type ConnectorProfile } from '../../connectors/connector.js';
import { HubSpotConnector } from '../../connectors/hubspot/connector.js';
import {
  HubSpotOAuth,
  TokenManager,
  type TokenSet,
  type TokenStore,
} from '../../connectors/hubspot/oauth.js';
import { HUBSPOT_PROFILE } from '../../connectors/hubspot/profile.js';
import { verifyHubSpotRequest } from '../../connectors/hubspot/signature.js';
import type { LimiterFactory } from '../../connectors/shared/limiter.js';
import type { CrmRequestVerifier } from '../settings/index.js';
import type { Storage } from '../storage/index.js';
import type { CrmWiring } from './crms.js';

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

/** The OAuth client of a HubSpot app: a real app's, or the sandbox's on its own URL. */
export function hubspotOAuth(
  app: { clientId: string; clientSecret: string; apiBase: string },
  redirectUri: string,
): HubSpotOAuth {
  return new HubSpotOAuth({
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri,
    baseUrl: app.apiBase,
  });
}

export interface HubSpotWiringOptions {
  storage: Storage;
  oauth: HubSpotOAuth;
  /** Built from `profile.buckets`: every connector's calls go through its portal's limiter. */
  limiters: LimiterFactory;
  /** What the connectors say about HubSpot; HUBSPOT_PROFILE unless the rate budget is tuned. */
  profile?: ConnectorProfile | undefined;
  /** The HubSpot API base (the sandbox's URL in sandbox mode). */
  basePath: string;
  clock: () => number;
  /** Contact properties read as lists (multiple checkboxes) besides those each portal says are. */
  multiValueProperties?: readonly string[] | undefined;
  /** Where a portal's connector says what it decides on its own, with the tenant and portal. */
  log?: { warn(message: string, meta?: Record<string, unknown>): unknown } | undefined;
}

export function hubspotWiring(opts: HubSpotWiringOptions): CrmWiring {
  const profile = opts.profile ?? HUBSPOT_PROFILE;
  // Per portal: its connectors in this process (one, unless an evicted one still finishes its calls),
  // told when an install brings a new grant.
  const connected = new Map<string, Set<HubSpotConnector>>();
  const grantChanged = (portalId: string): void => {
    for (const connector of connected.get(portalId) ?? []) connector.grantChanged();
  };
  // Held in memory per portal while it has a connector here (see TokenManager).
  const tokens = new TokenManager({
    oauth: opts.oauth,
    store: tenantTokenStore(opts.storage, opts.clock),
    now: opts.clock,
    onNewGrant: grantChanged,
  });
  return {
    provider: 'hubspot',
    profile,
    connect(tenant, credentials) {
      const portalId = tenant.externalId;
      const connector = new HubSpotConnector({
        portalId,
        // A refused refresh token is the uninstall: the runtimes mark the tenant and its work waits.
        accessToken: async () => {
          try {
            return await tokens.accessToken(portalId);
          } catch (error) {
            return credentials.failed(error, isRevokedGrant(error));
          }
        },
        tokenRefused: (accessToken) => tokens.drop(portalId, accessToken),
        limiter: opts.limiters.forPortal(portalId),
        multiValueProperties: opts.multiValueProperties,
        basePath: opts.basePath,
        profile,
        log: {
          warn: (message, meta) => opts.log?.warn(message, { tenantId: tenant.id, portalId, ...meta }),
        },
      });
      const portal = connected.get(portalId) ?? new Set<HubSpotConnector>();
      connected.set(portalId, portal.add(connector));
      return {
        connector,
        busy: () => opts.limiters.busy(portalId),
        release: () => {
          portal.delete(connector);
          if (portal.size === 0 && connected.get(portalId) === portal) {
            // An idle portal costs this process nothing: its tokens are read again at its next work.
            connected.delete(portalId);
            tokens.forget(portalId);
          }
          return opts.limiters.release(portalId);
        },
      };
    },
    /** An install (or uninstall) of the portal: its new tokens are read, and a scope it refused may be granted now. */
    forget(tenant) {
      tokens.forget(tenant.externalId);
      grantChanged(tenant.externalId);
    },
    async grantRevoked(tenant) {
      try {
        // A refresh is the one question HubSpot answers plainly: BAD_REFRESH_TOKEN once uninstalled.
        await tokens.forceRefresh(tenant.externalId);
        return false;
      } catch (error) {
        return isRevokedGrant(error);
      } finally {
        // Asked for a portal with no work here (a paused tenant's check): nothing to hold its tokens for.
        if (!connected.has(tenant.externalId)) tokens.forget(tenant.externalId);
      }
    },
  };
}

/**
 * Checks a request a UI extension sent through `hubspot.fetch`: HubSpot's v3 signature over the full URI,
 * which carries the `portalId` and the user (`userEmail`, else `userId`) HubSpot appends (hubspot.md §9.1).
 * Each must appear once: the extension never sends them itself, so a second one is a forgery attempt.
 */
export function hubspotFetchVerifier(clientSecret: string, clock: () => number): CrmRequestVerifier {
  return (req) => {
    if (!verifyHubSpotRequest(req, clientSecret, clock()).ok) return null;
    const query = new URL(req.uri).searchParams;
    const one = (name: string): string | null => {
      const all = query.getAll(name);
      return all.length === 1 && all[0] !== '' ? (all[0] ?? null) : null;
    };
    const portalId = one('portalId');
    const user = one('userEmail') ?? one('userId');
    return portalId === null || user === null ? null : { provider: 'hubspot', externalId: portalId, user };
  };
}
