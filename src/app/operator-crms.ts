// A tenant's connector for an operator command, outside the running app: built from the app's
// configuration by the wiring of the tenant's CRM, on the tokens the app stored, on the shared rate
// budget when the app keeps one in Redis. Only Salesforce is wired: HubSpot's connector lists no fields
// of a portal, which is all a command asks a CRM for so far.
import { Redis } from 'ioredis';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import { salesforceRedirectUri } from '../server/index.js';
import type { Storage, Tenant } from '../storage/index.js';
import type { AppConfig } from './config.js';
import { CRM_PROFILES } from './crm-profiles.js';
import type { TenantConnection } from './crms.js';
import { SALESFORCE_PROVIDER, salesforceWiring, type SalesforceApp } from './salesforce.js';

/**
 * The connected app a command refreshes an org's session with. The sandbox org lives inside `npm start`,
 * so a command reaches it only while that runs, on the stored session.
 */
function salesforceApp(config: AppConfig): SalesforceApp {
  const redirectUri = salesforceRedirectUri(config.publicUrl ?? `http://${config.host}:${config.port}`);
  if (config.salesforce !== undefined) return { ...config.salesforce, redirectUri };
  // Without a Salesforce app, an org was installed by the sandbox mode (whatever CRM= this command has).
  return {
    clientId: 'lead-router-cli',
    redirectUri,
    loginUrl: `http://${config.host}:${config.sandboxPort}`,
  };
}

/** The tenant's connection (released by the caller), or undefined when no wiring of its CRM is here. */
export function operatorConnection(
  config: AppConfig,
  storage: Storage,
  tenant: Tenant,
  clock: () => number,
): TenantConnection | undefined {
  const app = tenant.provider === SALESFORCE_PROVIDER ? salesforceApp(config) : undefined;
  if (app === undefined) return undefined;
  const limiters = new LimiterFactory({
    provider: `${config.redisKeyPrefix}:${SALESFORCE_PROVIDER}`,
    buckets: CRM_PROFILES.salesforce.buckets,
    ...(config.redisUrl === undefined ? {} : { redis: new Redis(config.redisUrl) }),
  });
  const connection = salesforceWiring({ storage, app, limiters, clock }).connect(tenant, {
    failed: (error) => Promise.reject(error instanceof Error ? error : new Error(String(error))),
  });
  return {
    ...connection,
    release: async () => {
      await connection.release();
      await limiters.disconnectAll();
    },
  };
}
