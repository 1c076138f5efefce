// A tenant's connector for an operator command, outside the running app: built from the app's
// configuration by the wiring of the tenant's CRM, on the tokens the app stored, on the shared rate
// budget when the app keeps one in Redis.
import { Redis } from 'ioredis';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import { hubspotRedirectUri, salesforceRedirectUri } from '../server/index.js';
import type { Storage, Tenant } from '../storage/index.js';
import type { AppConfig } from './config.js';
import { budgetedProfile } from './crm-profiles.js';
import type { CrmWiring, TenantConnection } from './crms.js';
import { hubspotOAuth, hubspotWiring } from './hubspot.js';
import { SALESFORCE_PROVIDER, salesforceWiring, type SalesforceApp } from './salesforce.js';

/** Where the app runs, as the CRMs' redirect URIs were registered. */
const appUrl = (config: AppConfig) => config.publicUrl ?? `http://${config.host}:${config.port}`;

/** The sandbox CRM's address while `npm start` runs it (a command reaches it only then). */
const sandboxUrl = (config: AppConfig) => `http://${config.host}:${config.sandboxPort}`;

/**
 * The connected app a command refreshes an org's session with. The sandbox org lives inside `npm start`,
 * so a command reaches it only while that runs, on the stored session.
 */
function salesforceApp(config: AppConfig): SalesforceApp {
  const redirectUri = salesforceRedirectUri(appUrl(config));
  if (config.salesforce !== undefined) return { ...config.salesforce, redirectUri };
  // Without a Salesforce app, an org was installed by the sandbox mode (whatever CRM= this command has).
  return { clientId: 'lead-router-cli', redirectUri, loginUrl: sandboxUrl(config) };
}

/**
 * The HubSpot wiring a command reaches a portal by: the app's HubSpot app, else the sandbox's portal on
 * the stored access token (which the command cannot refresh: the sandbox's app is the running app's).
 */
function hubspotOperatorWiring(
  config: AppConfig,
  storage: Storage,
  limiters: LimiterFactory,
  clock: () => number,
): CrmWiring {
  const app = config.hubspot ?? {
    clientId: 'lead-router-cli',
    clientSecret: '',
    apiBase: sandboxUrl(config),
  };
  return hubspotWiring({
    storage,
    oauth: hubspotOAuth(app, hubspotRedirectUri(appUrl(config))),
    limiters,
    profile: budgetedProfile('hubspot', config.hubspotRequestsPer10s),
    basePath: app.apiBase,
    clock,
    multiValueProperties: config.hubspotMultiValueProperties,
  });
}

/**
 * What to tell an operator whose command could not reach the tenant's CRM, when that CRM is the sandbox
 * (no real app of its CRM is configured): it lives inside `npm start`, on the port this command assumes.
 */
export function sandboxReachHint(
  config: AppConfig,
  tenant: Pick<Tenant, 'provider'>,
  failure: string,
): string {
  const real = tenant.provider === SALESFORCE_PROVIDER ? config.salesforce : config.hubspot;
  // The connectors' words for a CRM that did not answer at all (nothing listening there).
  if (real !== undefined || !/unreachable|no answer within/.test(failure)) return '';
  return ` (the sandbox CRM runs inside npm start and was looked for at ${sandboxUrl(config)}: start the app, or give this command the SANDBOX_PORT the app runs with)`;
}

/** The tenant's connection (released by the caller), or undefined when no wiring of its CRM is here. */
export function operatorConnection(
  config: AppConfig,
  storage: Storage,
  tenant: Tenant,
  clock: () => number,
): TenantConnection | undefined {
  const salesforce = tenant.provider === SALESFORCE_PROVIDER;
  if (!salesforce && tenant.provider !== 'hubspot') return undefined;
  const limiters = new LimiterFactory({
    provider: `${config.redisKeyPrefix}:${tenant.provider}`,
    buckets: budgetedProfile(salesforce ? 'salesforce' : 'hubspot', config.hubspotRequestsPer10s).buckets,
    ...(config.redisUrl === undefined ? {} : { redis: new Redis(config.redisUrl) }),
  });
  const wiring = salesforce
    ? salesforceWiring({ storage, app: salesforceApp(config), limiters, clock })
    : hubspotOperatorWiring(config, storage, limiters, clock);
  const connection = wiring.connect(tenant, {
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
