// HubSpot OAuth: install URL, code exchange, refresh, token info, and a refreshing TokenManager.
// v1 endpoints are deprecated and switched off on 2027-02-16:
//   https://developers.hubspot.com/changelog/v1-oauth-api-deprecation
//   https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/migration-guide
// `apiVersion: '2026-03'` switches to the replacements (form-encoded POSTs; hubspot.md §8.3).
import { z } from 'zod';
import { CrmError } from '../connector.js';
import { classifyHubSpotError } from './errors.js';

export const HUBSPOT_API_BASE = 'https://api.hubapi.com';
export const AUTHORIZE_URL = 'https://app.hubspot.com/oauth/authorize';

export const OAUTH_PATHS = {
  v1: {
    token: '/oauth/v1/token',
    /** GET, token appended; returns hub_id, user_id, scopes, expires_in. */
    accessTokenInfo: '/oauth/v1/access-tokens/',
  },
  '2026-03': {
    token: '/oauth/2026-03/token',
    introspect: '/oauth/2026-03/token/introspect',
    revoke: '/oauth/2026-03/token/revoke',
  },
} as const;
export type OAuthApiVersion = keyof typeof OAUTH_PATHS;

/** Scopes every install must grant (hubspot.md §8.4). Kept in sync with hubspot-app/ by a test. */
export const REQUIRED_SCOPES = [
  'oauth',
  'crm.objects.contacts.read',
  'crm.objects.contacts.write',
  'crm.objects.companies.read',
  'crm.objects.owners.read',
] as const;
/** Sequences need Sales/Service Hub Pro+; optional so lower tiers can still install. */
export const OPTIONAL_SCOPES = [
  'automation.sequences.read',
  'automation.sequences.enrollments.write',
] as const;

export function authorizeUrl(args: {
  clientId: string;
  redirectUri: string;
  state: string;
  /** Pre-selects an account: `https://app.hubspot.com/oauth/{portalId}/authorize`. */
  portalId?: string;
  scopes?: readonly string[];
  optionalScopes?: readonly string[];
}): string {
  const base =
    args.portalId === undefined
      ? AUTHORIZE_URL
      : AUTHORIZE_URL.replace('/oauth/', `/oauth/${encodeURIComponent(args.portalId)}/`);
  const params = new URLSearchParams({
    client_id: args.clientId,
    redirect_uri: args.redirectUri,
    scope: (args.scopes ?? REQUIRED_SCOPES).join(' '),
  });
  const optional = args.optionalScopes ?? OPTIONAL_SCOPES;
  if (optional.length > 0) params.set('optional_scope', optional.join(' '));
  params.set('state', args.state);
  // URLSearchParams writes spaces as '+'; HubSpot's docs show %20, which every decoder accepts.
  return `${base}?${params.toString().replace(/\+/g, '%20')}`;
}

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_in: z.number().int().positive(),
  token_type: z.string().optional(),
  hub_id: z.number().int().optional(),
  scopes: z.array(z.string()).optional(),
});

const tokenInfoSchema = z.object({
  hub_id: z.number().int(),
  user_id: z.number().int().optional(),
  app_id: z.number().int().optional(),
  user: z.string().optional(),
  hub_domain: z.string().optional(),
  scopes: z.array(z.string()).default([]),
  expires_in: z.number().int().optional(),
});

export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms at which the access token stops working. */
  expiresAt: number;
  hubId?: number | undefined;
  scopes?: string[] | undefined;
}

export interface TokenInfo {
  hubId: number;
  userId?: number | undefined;
  appId?: number | undefined;
  scopes: string[];
  expiresInS?: number | undefined;
}

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{
  status: number;
  headers: { forEach(cb: (v: string, k: string) => void): void };
  text(): Promise<string>;
}>;

export interface HubSpotOAuthOptions {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  apiVersion?: OAuthApiVersion;
  baseUrl?: string;
  fetch?: FetchLike;
  now?: () => number;
}

function oauthError(status: number, text: string, headers: Record<string, string>): CrmError {
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: classify the text */
  }
  const b = (typeof body === 'object' && body !== null ? body : {}) as { error?: unknown; status?: unknown };
  // RFC 6749 `invalid_grant` / HubSpot `BAD_REFRESH_TOKEN`: the install was revoked or the code reused.
  if (
    status === 400 &&
    (b.error === 'invalid_grant' ||
      b.error === 'invalid_client' ||
      b.status === 'BAD_REFRESH_TOKEN' ||
      b.status === 'BAD_AUTH_CODE')
  ) {
    const base = classifyHubSpotError(400, body, headers);
    return new CrmError('auth', `HubSpot OAuth: ${base.message}`, {
      status,
      code: typeof b.error === 'string' ? b.error : String(b.status),
    });
  }
  return classifyHubSpotError(status, body, headers);
}

export class HubSpotOAuth {
  private readonly version: OAuthApiVersion;
  private readonly baseUrl: string;
  private readonly fetchFn: FetchLike;
  private readonly now: () => number;

  constructor(private readonly opts: HubSpotOAuthOptions) {
    this.version = opts.apiVersion ?? 'v1';
    this.baseUrl = opts.baseUrl ?? HUBSPOT_API_BASE;
    this.fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));
    this.now = opts.now ?? Date.now;
  }

  private async call(path: string, method: 'GET' | 'POST', form?: Record<string, string>): Promise<unknown> {
    const init: { method: string; headers: Record<string, string>; body?: string } = {
      method,
      headers: { Accept: 'application/json' },
    };
    if (form !== undefined) {
      init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
      init.body = new URLSearchParams(form).toString();
    }
    const res = await this.fetchFn(this.baseUrl + path, init);
    const text = await res.text();
    if (res.status < 200 || res.status > 299) {
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => {
        headers[k] = v;
      });
      throw oauthError(res.status, text, headers);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new CrmError('transient', 'HubSpot OAuth returned a non-JSON body', { status: res.status });
    }
  }

  private toTokens(json: unknown, requestedAt: number): TokenSet {
    const parsed = tokenResponseSchema.safeParse(json);
    if (!parsed.success)
      throw new CrmError('invalid', `unexpected HubSpot token response: ${parsed.error.message}`);
    const t = parsed.data;
    return {
      accessToken: t.access_token,
      refreshToken: t.refresh_token,
      // Measured from before the request, so network time never makes us think a token lives longer.
      expiresAt: requestedAt + t.expires_in * 1000,
      hubId: t.hub_id,
      scopes: t.scopes,
    };
  }

  private tokenPath(): string {
    return OAUTH_PATHS[this.version].token;
  }

  async exchangeCode(code: string): Promise<TokenSet> {
    const at = this.now();
    const json = await this.call(this.tokenPath(), 'POST', {
      grant_type: 'authorization_code',
      code,
      redirect_uri: this.opts.redirectUri,
      client_id: this.opts.clientId,
      client_secret: this.opts.clientSecret,
    });
    return this.toTokens(json, at);
  }

  async refresh(refreshToken: string): Promise<TokenSet> {
    const at = this.now();
    const json = await this.call(this.tokenPath(), 'POST', {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: this.opts.clientId,
      client_secret: this.opts.clientSecret,
    });
    return this.toTokens(json, at);
  }

  /** The portal (hub id) and scopes behind an access token; used right after install. */
  async tokenInfo(accessToken: string): Promise<TokenInfo> {
    let json: unknown;
    if (this.version === 'v1') {
      json = await this.call(OAUTH_PATHS.v1.accessTokenInfo + encodeURIComponent(accessToken), 'GET');
    } else {
      // Introspection response fields beyond RFC 7662 are UNCONFIRMED; we require hub_id and fail loudly.
      json = await this.call(OAUTH_PATHS['2026-03'].introspect, 'POST', {
        client_id: this.opts.clientId,
        client_secret: this.opts.clientSecret,
        token: accessToken,
        token_type_hint: 'access_token',
      });
      if (
        typeof json === 'object' &&
        json !== null &&
        typeof (json as { scope?: unknown }).scope === 'string'
      ) {
        json = { ...json, scopes: (json as { scope: string }).scope.split(' ').filter((s) => s !== '') };
      }
    }
    const parsed = tokenInfoSchema.safeParse(json);
    if (!parsed.success)
      throw new CrmError('invalid', `unexpected HubSpot token info: ${parsed.error.message}`);
    const i = parsed.data;
    return {
      hubId: i.hub_id,
      userId: i.user_id,
      appId: i.app_id,
      scopes: i.scopes,
      expiresInS: i.expires_in,
    };
  }
}

/** Implemented by storage (which encrypts at rest with shared/crypto.ts). */
export interface TokenStore {
  load(portalId: string): Promise<TokenSet | null>;
  save(portalId: string, tokens: TokenSet): Promise<void>;
}

export interface TokenManagerOptions {
  oauth: Pick<HubSpotOAuth, 'refresh'>;
  store: TokenStore;
  now?: () => number;
  /** Refresh this long before expiry (tokens live 30 min; default 5 min ahead). */
  refreshAheadMs?: number;
}

/**
 * Hands out a valid access token per portal, refreshing ahead of expiry. Refreshes are single-flight
 * per portal inside this process (across processes a lock is the storage layer's job).
 */
export class TokenManager {
  private readonly inflight = new Map<string, Promise<TokenSet>>();
  private readonly now: () => number;
  private readonly ahead: number;

  constructor(private readonly opts: TokenManagerOptions) {
    this.now = opts.now ?? Date.now;
    this.ahead = opts.refreshAheadMs ?? 5 * 60_000;
  }

  async accessToken(portalId: string): Promise<string> {
    const pending = this.inflight.get(portalId);
    if (pending !== undefined) return (await pending).accessToken;
    const stored = await this.opts.store.load(portalId);
    if (stored === null)
      throw new CrmError('auth', `no HubSpot tokens stored for portal ${portalId} (app not installed)`);
    if (stored.expiresAt - this.ahead > this.now()) return stored.accessToken;
    return (await this.refreshOnce(portalId, stored)).accessToken;
  }

  /** Forces a refresh (e.g. after a 401 while the clock said the token was fresh). */
  async forceRefresh(portalId: string): Promise<string> {
    const stored = await this.opts.store.load(portalId);
    if (stored === null)
      throw new CrmError('auth', `no HubSpot tokens stored for portal ${portalId} (app not installed)`);
    return (await this.refreshOnce(portalId, stored)).accessToken;
  }

  private refreshOnce(portalId: string, stored: TokenSet): Promise<TokenSet> {
    const pending = this.inflight.get(portalId);
    if (pending !== undefined) return pending;
    const run = (async () => {
      const fresh = await this.opts.oauth.refresh(stored.refreshToken);
      const merged: TokenSet = {
        ...fresh,
        hubId: fresh.hubId ?? stored.hubId,
        scopes: fresh.scopes ?? stored.scopes,
      };
      await this.opts.store.save(portalId, merged);
      return merged;
    })();
    this.inflight.set(portalId, run);
    // Clear the slot whether it worked or not, so the next call retries a failed refresh.
    const clear = (): void => {
      if (this.inflight.get(portalId) === run) this.inflight.delete(portalId);
    };
    run.then(clear, clear);
    return run;
  }
}
