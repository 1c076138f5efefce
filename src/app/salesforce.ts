// Salesforce as the app reaches it: one org is one tenant (external id = the org id of the identity
// URL); its token set is kept (encrypted by storage) in the tenant row, refreshed by jsforce on an
// expired session with a rotated refresh token stored back; its connector runs on the org's limiter.
import { CrmError, type ConnectorProfile } from '../../connectors/connector.js';
import {
  decodeSalesforceTokens,
  encodeSalesforceTokens,
  SalesforceSession,
  type SalesforceApp,
  type SalesforceTokenStore,
} from '../../connectors/salesforce/auth.js';
import { SalesforceConnector } from '../../connectors/salesforce/connector.js';
import type { ApiUsage } from '../../connectors/salesforce/errors.js';
import { SALESFORCE_PROFILE } from '../../connectors/salesforce/profile.js';
import type { LimiterFactory } from '../../connectors/shared/limiter.js';
import type { Storage, Tenant } from '../storage/index.js';
import type { CrmWiring } from './crms.js';

export const SALESFORCE_PROVIDER = 'salesforce';

/** The session's token store over the tenant rows, sealed by storage's keyring like every tenant secret. */
export function salesforceTokenStore(storage: Storage, clock: () => number): SalesforceTokenStore {
  return {
    async load(orgId) {
      const tenant = await storage.findTenant(SALESFORCE_PROVIDER, orgId);
      if (tenant === null) return null;
      const text = await storage.getTenantToken(tenant.id);
      return text === null ? null : decodeSalesforceTokens(text);
    },
    async save(orgId, tokens) {
      const tenant = await storage.findTenant(SALESFORCE_PROVIDER, orgId);
      if (tenant === null) throw new CrmError('auth', `Salesforce org ${orgId} is not installed`);
      await storage.setTenantToken(tenant.id, encodeSalesforceTokens(tokens), clock());
    },
  };
}

/**
 * Salesforce refused the refresh token for good (`400 {"error":"invalid_grant"}`): the grant was
 * revoked (the app uninstalled or blocked) or it expired under the org's refresh token policy.
 */
export function isRevokedSalesforceGrant(error: unknown): boolean {
  return error instanceof CrmError && error.kind === 'auth' && error.details.code === 'invalid_grant';
}

export interface SalesforceWiringOptions {
  storage: Storage;
  /** The connected app (or external client app); `loginUrl` is the sandbox's URL in sandbox mode. */
  app: SalesforceApp;
  /** Built from `profile.buckets`. */
  limiters: LimiterFactory;
  profile?: ConnectorProfile | undefined;
  clock: () => number;
  /** Told each org's daily API usage after every call (metrics, readiness, pacing). */
  onUsage?: ((tenant: Tenant, usage: ApiUsage) => void) | undefined;
  /** Told when a refreshed token set could not be stored. */
  onStoreError?: ((tenant: Tenant, error: unknown) => void) | undefined;
}

export function salesforceWiring(opts: SalesforceWiringOptions): CrmWiring {
  const profile = opts.profile ?? SALESFORCE_PROFILE;
  const store = salesforceTokenStore(opts.storage, opts.clock);
  const session = async (tenant: Tenant): Promise<SalesforceSession> => {
    const tokens = await store.load(tenant.externalId);
    if (tokens === null)
      throw new CrmError(
        'auth',
        `no Salesforce tokens stored for org ${tenant.externalId} (app not installed)`,
      );
    return new SalesforceSession({
      app: opts.app,
      tokens,
      store,
      now: opts.clock,
      onStoreError: (error) => opts.onStoreError?.(tenant, error),
    });
  };
  return {
    provider: SALESFORCE_PROVIDER,
    profile,
    connect(tenant, credentials) {
      const orgId = tenant.externalId;
      const connector = new SalesforceConnector({
        session: async () => {
          try {
            return await session(tenant);
          } catch (error) {
            return credentials.failed(error, false);
          }
        },
        limiter: opts.limiters.forPortal(orgId),
        profile,
        now: opts.clock,
        onUsage: (usage) => opts.onUsage?.(tenant, usage),
      });
      return {
        connector,
        busy: () => opts.limiters.busy(orgId),
        release: () => opts.limiters.release(orgId),
      };
    },
    async grantRevoked(tenant) {
      try {
        // A refresh is the plain question: invalid_grant once the grant is gone. A rotated refresh
        // token it brings is stored, so the answer never costs the org its grant.
        await (await session(tenant)).refresh();
        return false;
      } catch (error) {
        return isRevokedSalesforceGrant(error);
      }
    },
  };
}
