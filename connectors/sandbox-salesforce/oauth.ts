// OAuth 2.0 web-server flow with PKCE (salesforce.md §6): an authorize endpoint that approves at once as
// the org's integration user (or the user named by login_hint), the token endpoint for
// authorization_code (code_verifier checked against the S256 challenge) and refresh_token (with optional
// refresh-token rotation), revoke, userinfo and the identity URL. Access tokens expire after the
// session timeout; an expired one answers 401 INVALID_SESSION_ID.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Clock } from '../sandbox-kit/clock.js';
import type { Org } from './org.js';

export interface ConnectedApp {
  clientId: string;
  /** Absent for a public client (PKCE only). */
  clientSecret?: string | undefined;
  redirectUris: string[];
  /** Each refresh returns a new refresh token and retires the old one. */
  rotateRefreshTokens: boolean;
  /** The session timeout: how long an access token lives (default 2 hours). */
  accessTokenTtlMs: number;
}

export const DEFAULT_SF_APP: ConnectedApp = {
  clientId: 'sandbox-sf-client',
  clientSecret: 'sandbox-sf-secret',
  redirectUris: ['http://localhost:3000/oauth/salesforce/callback'],
  rotateRefreshTokens: false,
  accessTokenTtlMs: 2 * 3_600_000,
};

export interface SfSession {
  token: string;
  orgId: string;
  userId: string;
  clientId: string;
  issuedAt: number;
  expiresAt: number;
  refreshToken: string | undefined;
  revoked: boolean;
}

interface RefreshGrant {
  orgId: string;
  userId: string;
  clientId: string;
  scope: string;
  revoked: boolean;
}

interface AuthCode {
  orgId: string;
  userId: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  challenge: string | undefined;
  method: string;
  expiresAt: number;
}

const CODE_TTL_MS = 15 * 60_000;
const b64url = (b: Buffer) => b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

export class SfTokenStore {
  readonly apps = new Map<string, ConnectedApp>();
  private readonly sessions = new Map<string, SfSession>();
  private readonly refreshGrants = new Map<string, RefreshGrant>();
  private readonly codes = new Map<string, AuthCode>();
  /** Per org: the policy that turns its refreshes away for now (the token endpoint's description). */
  private readonly refusals = new Map<string, string>();

  constructor(
    apps: readonly ConnectedApp[],
    private readonly clock: Clock,
  ) {
    for (const a of apps) this.apps.set(a.clientId, { ...a });
  }

  /** A session for a user without the OAuth dance (tests, `npm start`). */
  issue(orgId: string, userId: string, clientId = DEFAULT_SF_APP.clientId, withRefresh = true): SfSession {
    const app = this.apps.get(clientId);
    const ttl = app?.accessTokenTtlMs ?? DEFAULT_SF_APP.accessTokenTtlMs;
    let refreshToken: string | undefined;
    if (withRefresh) {
      refreshToken = `5Aep861${b64url(randomBytes(48))}`;
      this.refreshGrants.set(refreshToken, {
        orgId,
        userId,
        clientId,
        scope: 'api refresh_token id',
        revoked: false,
      });
    }
    return this.session(orgId, userId, clientId, ttl, refreshToken);
  }

  private session(
    orgId: string,
    userId: string,
    clientId: string,
    ttl: number,
    refreshToken: string | undefined,
  ): SfSession {
    const now = this.clock.now();
    const s: SfSession = {
      token: `${orgId.slice(0, 15)}!AQ${b64url(randomBytes(60))}`,
      orgId,
      userId,
      clientId,
      issuedAt: now,
      expiresAt: now + ttl,
      refreshToken,
      revoked: false,
    };
    this.sessions.set(s.token, s);
    return s;
  }

  lookup(token: string): SfSession | undefined {
    return this.sessions.get(token);
  }

  /** Valid now: known, not revoked, not expired. */
  valid(token: string): SfSession | undefined {
    const s = this.sessions.get(token);
    return s !== undefined && !s.revoked && s.expiresAt > this.clock.now() ? s : undefined;
  }

  /** Expires every access token of an org (or all); refresh tokens keep working. */
  expire(orgId?: string): number {
    let n = 0;
    const now = this.clock.now();
    for (const s of this.sessions.values())
      if ((orgId === undefined || s.orgId === orgId) && s.expiresAt > now) {
        s.expiresAt = now;
        n++;
      }
    return n;
  }

  /**
   * The org's policy turns every refresh away with `invalid_grant` and this description (as Salesforce
   * does outside the integration user's login hours or IP ranges: "ip restricted or invalid login
   * hours"), while the grants stand; null lifts it.
   */
  refuseRefreshes(orgId: string, description: string | null): void {
    if (description === null) this.refusals.delete(orgId);
    else this.refusals.set(orgId, description);
  }

  refusal(orgId: string): string | undefined {
    return this.refusals.get(orgId);
  }

  revoke(token: string): boolean {
    const s = this.sessions.get(token);
    if (s !== undefined) {
      s.revoked = true;
      return true;
    }
    const grant = this.refreshGrants.get(token);
    if (grant === undefined) return false;
    // Revoking a refresh token also revokes the access tokens issued from it.
    grant.revoked = true;
    for (const x of this.sessions.values()) if (x.refreshToken === token) x.revoked = true;
    return true;
  }

  newCode(code: Omit<AuthCode, 'expiresAt'>): string {
    const value = `aPrx${b64url(randomBytes(32))}`;
    this.codes.set(value, { ...code, expiresAt: this.clock.now() + CODE_TTL_MS });
    return value;
  }

  takeCode(value: string): AuthCode | undefined {
    const c = this.codes.get(value);
    this.codes.delete(value);
    return c !== undefined && c.expiresAt > this.clock.now() ? c : undefined;
  }

  refreshGrant(token: string): RefreshGrant | undefined {
    const g = this.refreshGrants.get(token);
    return g === undefined || g.revoked ? undefined : g;
  }

  /** Access (and with rotation, a new refresh) token for a refresh grant; the old one retires on rotation. */
  refresh(old: string, grant: RefreshGrant, app: ConnectedApp): SfSession {
    let refreshToken = old;
    if (app.rotateRefreshTokens) {
      grant.revoked = true;
      refreshToken = `5Aep861${b64url(randomBytes(48))}`;
      this.refreshGrants.set(refreshToken, { ...grant, revoked: false });
    }
    return this.session(grant.orgId, grant.userId, grant.clientId, app.accessTokenTtlMs, refreshToken);
  }
}

function field(req: Request, name: string): string | undefined {
  const v =
    (req.body as Record<string, unknown> | undefined)?.[name] ?? (req.query as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

const origin = (req: Request) => `${req.protocol}://${req.get('host') ?? 'localhost'}`;

function oauthError(res: Response, status: number, error: string, description: string): void {
  res.status(status).json({ error, error_description: description });
}

export interface OAuthDeps {
  tokens: SfTokenStore;
  orgs: Map<string, Org>;
  clock: Clock;
  /** The org a user without a login_hint signs in to, and its integration user. */
  defaultLogin: () => { orgId: string; userId: string } | undefined;
  /** Resolves the session of a bearer token for userinfo/identity, or answers 401 itself. */
  bearer: (req: Request, res: Response) => SfSession | undefined;
}

export function oauthRouter(deps: OAuthDeps): Router {
  const r = Router();
  const { tokens } = deps;

  r.get('/services/oauth2/authorize', (req, res) => {
    const clientId = field(req, 'client_id') ?? '';
    const redirectUri = field(req, 'redirect_uri') ?? '';
    const app = tokens.apps.get(clientId);
    if (app === undefined)
      return void res
        .status(400)
        .send('error=invalid_client_id&error_description=client%20identifier%20invalid');
    if (!app.redirectUris.includes(redirectUri))
      return void res
        .status(400)
        .send('error=redirect_uri_mismatch&error_description=redirect_uri%20must%20match%20configuration');
    const back = new URL(redirectUri);
    const state = field(req, 'state');
    if (state !== undefined) back.searchParams.set('state', state);
    if (field(req, 'response_type') !== 'code') {
      back.searchParams.set('error', 'unsupported_response_type');
      return void res.redirect(302, back.toString());
    }
    const hint = field(req, 'login_hint');
    let login = deps.defaultLogin();
    if (hint !== undefined) {
      login = undefined;
      for (const org of deps.orgs.values()) {
        const u = org.userByUsername(hint);
        if (u !== undefined) login = { orgId: org.orgId, userId: String(u['Id']) };
      }
    }
    if (login === undefined) {
      back.searchParams.set('error', 'access_denied');
      back.searchParams.set('error_description', 'end-user denied authorization');
      return void res.redirect(302, back.toString());
    }
    const challenge = field(req, 'code_challenge');
    const code = tokens.newCode({
      ...login,
      clientId,
      redirectUri,
      scope: field(req, 'scope') ?? 'api refresh_token id',
      challenge,
      method: field(req, 'code_challenge_method') ?? 'S256',
    });
    back.searchParams.set('code', code);
    res.redirect(302, back.toString());
  });

  r.post('/services/oauth2/token', (req, res) => {
    const grantType = field(req, 'grant_type');
    const app = tokens.apps.get(field(req, 'client_id') ?? '');
    if (app === undefined) return oauthError(res, 400, 'invalid_client_id', 'client identifier invalid');
    const secret = field(req, 'client_secret');
    if (secret !== undefined && secret !== app.clientSecret)
      return oauthError(res, 400, 'invalid_client', 'invalid client credentials');
    const now = deps.clock.now();
    const answer = (s: SfSession, withRefresh: boolean, scope: string) => {
      const id = `${origin(req)}/id/${s.orgId}/${s.userId}`;
      const issuedAt = String(now);
      res.json({
        access_token: s.token,
        ...(withRefresh && s.refreshToken !== undefined ? { refresh_token: s.refreshToken } : {}),
        // Salesforce signs id + issued_at with the client secret (HMAC-SHA256, base64).
        signature: createHmac('sha256', app.clientSecret ?? '')
          .update(id + issuedAt)
          .digest('base64'),
        scope,
        instance_url: origin(req),
        id,
        token_type: 'Bearer',
        issued_at: issuedAt,
      });
    };
    if (grantType === 'authorization_code') {
      const code = tokens.takeCode(field(req, 'code') ?? '');
      if (code === undefined || code.clientId !== app.clientId)
        return oauthError(res, 400, 'invalid_grant', 'invalid authorization code');
      if (field(req, 'redirect_uri') !== code.redirectUri)
        return oauthError(res, 400, 'redirect_uri_mismatch', 'redirect_uri must match configuration');
      if (app.clientSecret !== undefined && secret === undefined && code.challenge === undefined)
        return oauthError(res, 400, 'invalid_client', 'invalid client credentials');
      if (code.challenge !== undefined) {
        const verifier = field(req, 'code_verifier');
        const computed =
          verifier === undefined
            ? undefined
            : code.method === 'plain'
              ? verifier
              : b64url(createHash('sha256').update(verifier).digest());
        if (computed !== code.challenge)
          return oauthError(res, 400, 'invalid_grant', 'invalid code verifier');
      }
      const scopes = code.scope.split(/\s+/);
      const wantsRefresh = scopes.includes('refresh_token') || scopes.includes('offline_access');
      const s = wantsRefresh
        ? tokens.issue(code.orgId, code.userId, app.clientId, true)
        : tokens.issue(code.orgId, code.userId, app.clientId, false);
      return answer(s, wantsRefresh, code.scope);
    }
    if (grantType === 'refresh_token') {
      const old = field(req, 'refresh_token') ?? '';
      const grant = tokens.refreshGrant(old);
      if (grant === undefined || grant.clientId !== app.clientId)
        return oauthError(res, 400, 'invalid_grant', 'expired access/refresh token');
      const refusal = tokens.refusal(grant.orgId);
      if (refusal !== undefined) return oauthError(res, 400, 'invalid_grant', refusal);
      const s = tokens.refresh(old, grant, app);
      // Without rotation the answer carries no refresh token (the old one stays valid).
      return answer(s, app.rotateRefreshTokens, grant.scope);
    }
    return oauthError(res, 400, 'unsupported_grant_type', 'grant type not supported');
  });

  r.post('/services/oauth2/revoke', (req, res) => {
    if (!tokens.revoke(field(req, 'token') ?? '')) {
      res
        .status(400)
        .type('text/plain')
        .send('error=unsupported_token_type&error_description=this%20token%20type%20is%20not%20supported');
      return;
    }
    res.status(200).end();
  });

  const identity = (req: Request, res: Response, s: SfSession) => {
    const org = deps.orgs.get(s.orgId);
    const user = org?.get(s.userId);
    if (org === undefined || user === undefined) return oauthError(res, 403, 'Bad_Id', 'Bad_Id');
    const base = origin(req);
    res.json({
      id: `${base}/id/${s.orgId}/${s.userId}`,
      sub: `${base}/id/${s.orgId}/${s.userId}`,
      user_id: s.userId,
      organization_id: s.orgId,
      username: user['Username'],
      preferred_username: user['Username'],
      email: user['Email'],
      name: user['Name'],
      zoneinfo: user['TimeZoneSidKey'],
      active: user['IsActive'],
      urls: {
        rest: `${base}/services/data/v{version}/`,
        sobjects: `${base}/services/data/v{version}/sobjects/`,
      },
    });
  };
  r.get('/services/oauth2/userinfo', (req, res) => {
    const s = deps.bearer(req, res);
    if (s !== undefined) identity(req, res, s);
  });
  r.get('/id/:orgId/:userId', (req, res) => {
    const s = deps.bearer(req, res);
    if (s !== undefined) identity(req, res, s);
  });
  return r;
}

/** `Authorization: Bearer <token>` or `OAuth <token>` (the CometD client's form). */
export function bearerToken(header: string | undefined): string | undefined {
  return /^(?:Bearer|OAuth)\s+(.+)$/i.exec(header ?? '')?.[1];
}
