// HubSpot OAuth: install URL, code exchange, refresh, token introspection, and a refreshing TokenManager.
// Only the 2026-03 endpoints (form-encoded POSTs; hubspot.md §8.3): HubSpot switches the v1 endpoints
// off on 2027-02-16, so there is nothing to fall back to and no reason to keep them selectable.
//   https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/migration-guide
import { z } from 'zod';
import { CrmError } from '../connector.js';
import { classifyHubSpotError } from './errors.js';

export const HUBSPOT_API_BASE = 'https://api.hubapi.com';
export const AUTHORIZE_URL = 'https://app.hubspot.com/oauth/authorize';

export const OAUTH_PATHS = {
  /** Code exchange and refresh (`grant_type` says which). */
  token: '/oauth/2026-03/token',
  /** Replaces v1's GET /oauth/v1/access-tokens/{token} and /refresh-tokens/{token}. */
  introspect: '/oauth/2026-03/token/introspect',
} as const;

/** Scopes every install must grant (hubspot.md §8.4). Kept in sync with hubspot-app/ by a test. */
export const REQUIRED_SCOPES = [
  'oauth',
  'crm.objects.contacts.read',
  'crm.objects.contacts.write',
  'crm.objects.companies.read',
  'crm.objects.owners.read',
] as const;
/**
 * Sequences need Sales/Service Hub Pro+; optional so lower tiers can still install. Reading the portal's
 * contact properties lets the rules be checked against them and tells its multiple checkboxes; an install
 * without it loses the check, and only the properties HUBSPOT_MULTI_VALUE_PROPERTIES names are lists.
 */
export const OPTIONAL_SCOPES = [
  'automation.sequences.read',
  'automation.sequences.enrollments.write',
  'crm.schemas.contacts.read',
] as const;

export interface AuthorizeArgs {
  clientId: string;
  redirectUri: string;
  state: string;
  /** Pre-selects an account: `https://app.hubspot.com/oauth/{portalId}/authorize`. */
  portalId?: string;
  scopes?: readonly string[];
  optionalScopes?: readonly string[];
}

export function authorizeUrl(args: AuthorizeArgs): string {
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

// PublicAccessTokenInfoResponse of the 2026-03 spec (Auth/Oauth/Rollouts/279897/2026-03/oauth.json):
// HubSpot's own fields, not RFC 7662's (`scopes` is an array, no `scope`/`exp`). An inactive token is
// told by `active: false`; its other fields are then not relied on.
const introspectionSchema = z.discriminatedUnion('active', [
  z.object({
    active: z.literal(true),
    hub_id: z.number().int(),
    app_id: z.number().int(),
    user_id: z.number().int().optional(),
    scopes: z.array(z.string()),
    expires_in: z.number().int().optional(),
    token_use: z.string().optional(),
  }),
  z.object({ active: z.literal(false) }),
]);

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
  private readonly baseUrl: string;
  private readonly fetchFn: FetchLike;
  private readonly now: () => number;

  constructor(private readonly opts: HubSpotOAuthOptions) {
    this.baseUrl = opts.baseUrl ?? HUBSPOT_API_BASE;
    this.fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));
    this.now = opts.now ?? Date.now;
  }

  /** The consent page an install starts on (on HubSpot's origin, app.hubspot.com). */
  authorizeUrl(args: AuthorizeArgs): string {
    return authorizeUrl(args);
  }

  /** Every 2026-03 endpoint takes its parameters as a form body, never in the URL. */
  private async post(path: string, form: Record<string, string>): Promise<unknown> {
    const res = await this.fetchFn(this.baseUrl + path, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
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

  async exchangeCode(code: string): Promise<TokenSet> {
    const at = this.now();
    const json = await this.post(OAUTH_PATHS.token, {
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
    const json = await this.post(OAUTH_PATHS.token, {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: this.opts.clientId,
      client_secret: this.opts.clientSecret,
    });
    return this.toTokens(json, at);
  }

  /** The portal (hub id) and scopes behind an access token; used right after install. */
  async tokenInfo(accessToken: string): Promise<TokenInfo> {
    const json = await this.post(OAUTH_PATHS.introspect, {
      client_id: this.opts.clientId,
      client_secret: this.opts.clientSecret,
      token: accessToken,
      token_type_hint: 'access_token',
    });
    const parsed = introspectionSchema.safeParse(json);
    if (!parsed.success)
      throw new CrmError('invalid', `unexpected HubSpot token introspection: ${parsed.error.message}`);
    const i = parsed.data;
    if (!i.active) throw new CrmError('auth', 'HubSpot says the access token is not active');
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
  /**
   * Told when the portal's stored tokens turn out to be another grant than the ones held (installed again
   * in another process: another refresh token or other scopes), so what the old grant refused is asked
   * again.
   */
  onNewGrant?: ((portalId: string) => void) | undefined;
}

/** What tells one grant (an install) from another: refreshes keep both. */
const grantOf = (tokens: TokenSet): string =>
  `${tokens.refreshToken} ${[...(tokens.scopes ?? [])].sort().join(' ')}`;

/**
 * Hands out a valid access token per portal, refreshing ahead of expiry. The token set last loaded or
 * refreshed is held in memory until `refreshAheadMs` before it expires, so a call costs no database read
 * and no decryption; one another process refreshed meanwhile is still valid at HubSpot until it expires.
 * `drop` (HubSpot refused the token) and `forget` (an install or uninstall) make the next call read the
 * store again. Refreshes are single-flight per portal inside this process; processes that refresh the
 * same portal at once each store a valid set (HubSpot keeps the refresh token).
 */
export class TokenManager {
  private readonly inflight = new Map<string, Promise<TokenSet>>();
  private readonly held = new Map<string, TokenSet>();
  /** The grant (grantOf) of the tokens last loaded or refreshed per portal, kept past a `drop`. */
  private readonly grants = new Map<string, string>();
  private readonly now: () => number;
  private readonly ahead: number;

  constructor(private readonly opts: TokenManagerOptions) {
    this.now = opts.now ?? Date.now;
    this.ahead = opts.refreshAheadMs ?? 5 * 60_000;
  }

  async accessToken(portalId: string): Promise<string> {
    const held = this.held.get(portalId);
    if (held !== undefined && this.fresh(held)) return held.accessToken;
    const pending = this.inflight.get(portalId);
    if (pending !== undefined) return (await pending).accessToken;
    const stored = await this.load(portalId);
    if (this.fresh(stored)) return stored.accessToken;
    return (await this.refreshOnce(portalId, stored)).accessToken;
  }

  /** Forces a refresh (e.g. after a 401 while the clock said the token was fresh). */
  async forceRefresh(portalId: string): Promise<string> {
    return (await this.refreshOnce(portalId, await this.load(portalId))).accessToken;
  }

  /** HubSpot refused `accessToken`: if it is the one held, the next call reads the store again. */
  drop(portalId: string, accessToken: string): void {
    if (this.held.get(portalId)?.accessToken === accessToken) this.held.delete(portalId);
  }

  /** Lets go of the portal's tokens (a new install stored others, it uninstalled, or it went idle). */
  forget(portalId: string): void {
    this.held.delete(portalId);
    this.grants.delete(portalId);
  }

  private fresh(tokens: TokenSet): boolean {
    return tokens.expiresAt - this.ahead > this.now();
  }

  /** The stored tokens, held from now on; another grant than the one held is told. */
  private async load(portalId: string): Promise<TokenSet> {
    const stored = await this.opts.store.load(portalId);
    if (stored === null) {
      this.forget(portalId);
      throw new CrmError('auth', `no HubSpot tokens stored for portal ${portalId} (app not installed)`);
    }
    const before = this.grants.get(portalId);
    this.held.set(portalId, stored);
    this.grants.set(portalId, grantOf(stored));
    if (before !== undefined && before !== grantOf(stored)) this.opts.onNewGrant?.(portalId);
    return stored;
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
      this.held.set(portalId, merged);
      this.grants.set(portalId, grantOf(merged));
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
