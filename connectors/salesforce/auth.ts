// Salesforce install and session: the OAuth 2.0 web-server flow with PKCE, the token set kept per org
// (one org is one tenant, its id read from the identity URL), and a jsforce Connection that stores the
// rotated refresh token jsforce itself forgets (salesforce.md §0.4, §2.1, §6).
//   Web-server flow: https://help.salesforce.com/s/articleView?id=remoteaccess_oauth_web_server_flow.htm
//   Refresh-token rotation: https://help.salesforce.com/s/articleView?id=remoteaccess_oauth_refresh_token_flow.htm
import { Connection, OAuth2, type TokenResponse } from 'jsforce';
import { z } from 'zod';
import { CrmError } from '../connector.js';
import { crmErrorFromJsforce } from './errors.js';

/** Set explicitly: jsforce defaults to 50.0, and sObject Collections need 42.0+, Lead territories 55.0+. */
export const SALESFORCE_API_VERSION = '62.0';
export const PRODUCTION_LOGIN_URL = 'https://login.salesforce.com';
/** `api` for REST, `refresh_token` for a refresh token, `id` for the identity URL (§6 Scopes). */
export const SALESFORCE_SCOPES = ['api', 'refresh_token', 'id'] as const;
/**
 * Sent as `Sforce-Call-Options: client=lead-router` on every call, so a change event's `changeOrigin`
 * ends in `client=lead-router` for our own writes and intake can skip them (§1.1, §8.2).
 */
export const CALL_CLIENT_ID = 'lead-router';

/** The connected app (or external client app) lead-router installs as. */
export interface SalesforceApp {
  clientId: string;
  /** Optional with PKCE; sent when the app requires it. */
  clientSecret?: string | undefined;
  redirectUri: string;
  /** `https://login.salesforce.com`, `https://test.salesforce.com` (sandboxes), a My Domain, or the sandbox CRM. */
  loginUrl: string;
}

/** What is kept per org, encrypted at rest by the tenant store. */
export const salesforceTokenSetSchema = z.object({
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1),
  instanceUrl: z.string().url(),
  /** The org (tenant external id) and the user who installed, from the identity URL. */
  orgId: z.string().min(15),
  userId: z.string().min(15),
  /** Epoch ms of the last token issue; Salesforce sends no expiry, the org's session timeout decides. */
  issuedAt: z.number(),
});
export type SalesforceTokenSet = z.infer<typeof salesforceTokenSetSchema>;

export function encodeSalesforceTokens(tokens: SalesforceTokenSet): string {
  return JSON.stringify(tokens);
}

export function decodeSalesforceTokens(text: string): SalesforceTokenSet {
  return salesforceTokenSetSchema.parse(JSON.parse(text));
}

/** Where an org's token set lives (the tenant row, encrypted by storage's keyring). */
export interface SalesforceTokenStore {
  load(orgId: string): Promise<SalesforceTokenSet | null>;
  save(orgId: string, tokens: SalesforceTokenSet): Promise<void>;
}

function oauth2For(app: SalesforceApp, pkce: boolean): OAuth2 {
  return new OAuth2({
    loginUrl: app.loginUrl,
    clientId: app.clientId,
    ...(app.clientSecret === undefined ? {} : { clientSecret: app.clientSecret }),
    redirectUri: app.redirectUri,
    useVerifier: pkce,
  });
}

/**
 * The URL to send the installing admin to, and the PKCE code verifier the callback's exchange needs
 * (jsforce keeps it only on this OAuth2 object). Pass `codeVerifier` to use one of the caller's own (43
 * to 128 characters of A-Z a-z 0-9 - . _ ~): one derived from `state` needs no store between the steps.
 */
export function salesforceAuthorizeUrl(
  app: SalesforceApp,
  state: string,
  codeVerifier?: string,
): { url: string; codeVerifier: string } {
  const oauth2 = oauth2For(app, true);
  if (codeVerifier !== undefined) {
    if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(codeVerifier))
      throw new Error('a PKCE code verifier is 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)');
    oauth2.codeVerifier = codeVerifier;
  }
  const url = oauth2.getAuthorizationUrl({ scope: SALESFORCE_SCOPES.join(' '), state });
  const verifier = oauth2.codeVerifier;
  if (typeof verifier !== 'string') throw new Error('jsforce made no PKCE code verifier');
  return { url, codeVerifier: verifier };
}

// The identity URL: https://login.salesforce.com/id/<orgId>/<userId>
const identityPattern = /\/id\/([a-zA-Z0-9]{15,18})\/([a-zA-Z0-9]{15,18})\/?$/;

/** Org and user ids from the token answer's `id` (identity URL). */
export function parseIdentityUrl(id: string): { orgId: string; userId: string } {
  const m = identityPattern.exec(id);
  if (m === null)
    throw new CrmError(
      'invalid',
      `Salesforce identity URL not understood: ${JSON.stringify(id.slice(0, 200))}`,
    );
  return { orgId: m[1] as string, userId: m[2] as string };
}

function tokensFrom(res: TokenResponse, refreshToken: string | undefined, now: number): SalesforceTokenSet {
  if (refreshToken === undefined || refreshToken === '')
    throw new CrmError(
      'auth',
      'Salesforce issued no refresh token: give the connected app the refresh_token scope and a refresh token policy',
    );
  const { orgId, userId } = parseIdentityUrl(res.id);
  const issued = Number(res.issued_at);
  return {
    accessToken: res.access_token,
    refreshToken,
    instanceUrl: res.instance_url,
    orgId,
    userId,
    issuedAt: Number.isFinite(issued) && issued > 0 ? issued : now,
  };
}

/** Exchanges the callback's code (with the verifier kept since the authorize URL) for the org's tokens. */
export async function exchangeSalesforceCode(
  app: SalesforceApp,
  code: string,
  codeVerifier: string,
  now: () => number = Date.now,
): Promise<SalesforceTokenSet> {
  const oauth2 = oauth2For(app, false);
  oauth2.codeVerifier = codeVerifier;
  try {
    const res = await oauth2.requestToken(code);
    return tokensFrom(res, res.refresh_token, now());
  } catch (err) {
    throw crmErrorFromJsforce(err, { call: 'OAuth code exchange', write: false }) ?? err;
  }
}

const organizationAnswer = z.object({
  records: z.array(z.object({ Name: z.string().min(1) }).passthrough()).min(1),
});

/**
 * The org's name (its one Organization record), read with a fresh install's tokens so the tenant is
 * shown by name rather than by id. Undefined when it cannot be read: the name is a nicety, never a
 * reason to fail an install.
 */
export async function readOrganizationName(
  tokens: Pick<SalesforceTokenSet, 'accessToken' | 'instanceUrl'>,
  timeoutMs = 10_000,
): Promise<string | undefined> {
  const conn = new Connection({
    version: SALESFORCE_API_VERSION,
    instanceUrl: tokens.instanceUrl,
    accessToken: tokens.accessToken,
    callOptions: { client: CALL_CLIENT_ID },
  });
  try {
    const answer = await conn.request(
      { method: 'GET', url: `/query?q=${encodeURIComponent('SELECT Name FROM Organization')}` },
      { timeout: timeoutMs, retry: { maxRetries: 0 } },
    );
    const parsed = organizationAnswer.safeParse(answer);
    return parsed.success ? parsed.data.records[0]?.Name.trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}

export interface SalesforceSessionOptions {
  app: SalesforceApp;
  tokens: SalesforceTokenSet;
  store: SalesforceTokenStore;
  version?: string;
  now?: () => number;
  /** Told when storing a refreshed token set failed (the next process may then hold a stale one). */
  onStoreError?: (error: unknown) => void;
  /**
   * How long a refused refresh waits before looking at the store once more (ms, default 1000): another
   * process that refreshed with the same token a moment earlier may still be storing its rotated set.
   * Not waited once this session saw that the app does not rotate refresh tokens.
   */
  storeSettleMs?: number;
}

/**
 * A jsforce Connection on the org's stored tokens, with the API version set and our call-options client
 * id on every request. Every refresh (jsforce's own on a 401, and `refresh()`) goes through `renew`, one
 * at a time per session: jsforce would keep the old refresh token, which rotation has already retired.
 * The store is shared by every process serving the org, so a session first takes a newer set another
 * process stored, and a refused refresh is tried on the stored set before it counts as refused.
 */
export class SalesforceSession {
  readonly conn: Connection;
  private tokens: SalesforceTokenSet;
  private saving: Promise<void> = Promise.resolve();
  private renewing: Promise<TokenResponse | undefined> | undefined;
  /**
   * Whether the app rotated the refresh token at this session's last refresh (with rotation on, every
   * refresh brings a new one); unknown before the first.
   */
  private rotates: boolean | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: SalesforceSessionOptions) {
    this.now = opts.now ?? Date.now;
    this.tokens = opts.tokens;
    this.conn = new Connection({
      oauth2: oauth2For(opts.app, false),
      version: opts.version ?? SALESFORCE_API_VERSION,
      instanceUrl: opts.tokens.instanceUrl,
      accessToken: opts.tokens.accessToken,
      refreshToken: opts.tokens.refreshToken,
      callOptions: { client: CALL_CLIENT_ID },
      // jsforce sets the access token and emits `refresh` with what this calls back.
      refreshFn: (_conn, callback) => {
        this.renew().then(
          (res) => {
            callback(null, this.tokens.accessToken, res);
          },
          (err: unknown) => {
            callback(err instanceof Error ? err : new Error(String(err)));
          },
        );
      },
    });
  }

  get orgId(): string {
    return this.tokens.orgId;
  }

  /** Resolves when every refreshed token set has been handed to the store. */
  settled(): Promise<void> {
    return this.saving;
  }

  /**
   * Refreshes the session now, once (an INVALID_SESSION_ID that jsforce does not refresh by itself, such
   * as "This session is not valid for use with the REST API"), through the same path as jsforce's own.
   */
  async refresh(): Promise<void> {
    let res: TokenResponse | undefined;
    try {
      res = await this.renew();
    } catch (err) {
      throw crmErrorFromJsforce(err, { call: 'token refresh', write: false }) ?? err;
    }
    this.conn.accessToken = this.tokens.accessToken;
    this.conn.emit('refresh', this.tokens.accessToken, res);
  }

  /** One renewal at a time: a second caller shares the first's outcome. */
  private renew(): Promise<TokenResponse | undefined> {
    this.renewing ??= this.renewOnce().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  /** The token answer of a refresh, or undefined when a set another process stored was taken instead. */
  private async renewOnce(): Promise<TokenResponse | undefined> {
    if (await this.takeNewerStored()) return undefined;
    const used = this.tokens.refreshToken;
    let res: TokenResponse;
    try {
      res = await this.conn.oauth2.refreshToken(used);
    } catch (err) {
      // With rotation on, another process may have refreshed with the same token a moment earlier: its
      // set may be stored now, or in a moment. Salesforce answers that spent token as it answers a
      // revoked grant (invalid_grant), so only an app seen not to rotate (no other refresh can have
      // spent ours) skips the wait; a reinstall's stored set is still taken.
      if (await this.takeNewerStored()) return undefined;
      if (this.rotates === false) throw err;
      await new Promise((resolve) => setTimeout(resolve, this.opts.storeSettleMs ?? 1000));
      if (await this.takeNewerStored()) return undefined;
      throw err;
    }
    const rotated = res.refresh_token;
    this.rotates = rotated !== undefined && rotated !== '' && rotated !== used;
    this.use({
      ...this.tokens,
      accessToken: res.access_token,
      refreshToken: rotated !== undefined && rotated !== '' ? rotated : used,
      instanceUrl: res.instance_url || this.tokens.instanceUrl,
      issuedAt: this.now(),
    });
    const next = this.tokens;
    this.saving = this.saving
      .then(() => this.opts.store.save(next.orgId, next))
      .catch((error: unknown) => this.opts.onStoreError?.(error));
    // The new access token is used only once the refresh token that goes with it is stored.
    await this.saving;
    return res;
  }

  /** Takes the stored set when another process stored a newer one than this session holds. */
  private async takeNewerStored(): Promise<boolean> {
    let stored: SalesforceTokenSet | null;
    try {
      stored = await this.opts.store.load(this.tokens.orgId);
    } catch {
      return false;
    }
    const held = this.tokens;
    if (
      stored === null ||
      stored.issuedAt < held.issuedAt ||
      (stored.accessToken === held.accessToken && stored.refreshToken === held.refreshToken)
    )
      return false;
    this.use(stored);
    return true;
  }

  private use(tokens: SalesforceTokenSet): void {
    this.tokens = tokens;
    this.conn.refreshToken = tokens.refreshToken;
    if (tokens.instanceUrl !== this.conn.instanceUrl) this.conn.instanceUrl = tokens.instanceUrl;
  }
}
