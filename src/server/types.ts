// What the server needs from the rest of the app. Narrow `Pick`s so tests and the composition root
// can see exactly which storage calls the HTTP layer makes.
import type { Metrics } from '../metrics.js';
import type { PushedIntake } from '../../connectors/pushed-intake.js';
import type { Logger } from '../log.js';
import type { SettingsDeps } from '../settings/index.js';
import type { Storage, StreamState, Tenant } from '../storage/index.js';

export type ServerStorage = Pick<
  Storage,
  | 'findTenant'
  | 'createTenant'
  | 'renameTenant'
  | 'getTenant'
  | 'setTenantToken'
  | 'enqueue'
  | 'purgeContact'
  | 'pausedTenants'
  | 'db'
>;

export interface HubSpotServerConfig {
  clientId: string;
  clientSecret: string;
  /** Must be built with `redirectUri: hubspotRedirectUri(publicUrl)` (HubSpotOAuth is one). */
  oauth: InstallOAuth;
  scopes?: readonly string[];
  optionalScopes?: readonly string[];
  /** Origin of the consent page; default https://app.hubspot.com (a sandbox URL in tests and demos). */
  authorizeOrigin?: string;
}

/** The Salesforce install as its routes drive it (src/app/salesforce.ts builds it over jsforce). */
export interface SalesforceServerConfig {
  install: {
    /** The org's consent page for an install carrying `state`; PKCE's challenge is derived from it. */
    authorizeUrl(state: string): string;
    /**
     * The code exchanged (with the verifier `state` derives): the org, its name when it could be read,
     * and its token set, to store.
     */
    exchange(
      code: string,
      state: string,
    ): Promise<{ orgId: string; orgName: string | undefined; userId: string; tokens: string }>;
  };
  /** Signs install states: a secret every instance of the deployment has. */
  stateSecret: string;
}

/** The OAuth steps of an install, as the install routes drive them. */
export interface InstallOAuth {
  /** The CRM's consent page for an install, on the CRM's own origin. */
  authorizeUrl(args: {
    clientId: string;
    redirectUri: string;
    state: string;
    /** Pre-selects an account on the consent page. */
    portalId?: string;
    scopes?: readonly string[];
    optionalScopes?: readonly string[];
  }): string;
  exchangeCode(code: string): Promise<InstallTokens>;
  /** Which account (portal) the token is for, and the scopes it was granted. */
  tokenInfo(accessToken: string): Promise<{ hubId: number; scopes: string[] }>;
}

export interface InstallTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms at which the access token stops working. */
  expiresAt: number;
  scopes?: string[] | undefined;
}

export interface ServerDeps {
  storage: ServerStorage;
  logger: Logger;
  clock: () => number;
  /** The public origin HubSpot calls, e.g. `https://router.example.com`; the signed URI is rebuilt from it. */
  publicUrl: string;
  /** HubSpot's install routes; absent when the deployment serves no HubSpot portal. */
  hubspot?: HubSpotServerConfig | undefined;
  /** Salesforce's install routes; absent when the deployment serves no Salesforce org. */
  salesforce?: SalesforceServerConfig | undefined;
  /** The CRMs that push events to us: one webhook route each, at `webhookPath(provider)`. */
  intakes: readonly PushedIntake[];
  /** Wakes the worker after new inbox rows were committed (called only when at least one is new). */
  onEnqueued?: (count: number) => void;
  onInstalled?: (tenant: Tenant) => Promise<void>;
  /** Webhook body limit in bytes; default 1 MB (100 events are far below it). */
  webhookBodyLimit?: number;
  /** How long an install `state` stays valid; default 10 minutes. */
  oauthStateTtlMs?: number;
  /** Served at /metrics and consulted by /readyz (CRM health); absent: neither. */
  metrics?: Metrics;
  /**
   * Every installed tenant's pulled event streams (the registered CRMs' channels) as the database has
   * them now: /readyz says which no process reads. Absent: no CRM pulls its events.
   */
  streams?: (() => Promise<StreamState[]>) | undefined;
  /** The settings tab (pages, JSON API, OpenAPI); absent: not served. */
  settings?: SettingsDeps;
  /** More links for the page at `/` (the sandbox CRM's write log, say). */
  homeLinks?: readonly HomeLink[];
}

export interface HomeLink {
  href: string;
  label: string;
  about: string;
}

/** Where a CRM's pushed intake receives its webhooks. */
export function webhookPath(provider: string): string {
  return `/webhooks/${provider}`;
}

export const WEBHOOK_PATH = webhookPath('hubspot');
export const INSTALL_PATH = '/oauth/hubspot/install';
export const CALLBACK_PATH = '/oauth/hubspot/callback';

/** `publicUrl` without trailing slashes, so `origin + req.originalUrl` never doubles a slash. */
export function normalizeOrigin(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, '');
}

/** The redirect URI registered with HubSpot and passed to `HubSpotOAuth`. */
export function hubspotRedirectUri(publicUrl: string): string {
  return normalizeOrigin(publicUrl) + CALLBACK_PATH;
}
