// OAuth install flow (hubspot.md §8): auto-approving authorize, the 2026-03 token endpoints (and their
// interim v3 paths), and the v1 endpoints, which a switch turns off as HubSpot will on 2027-02-16.
import { Router, type Request, type Response } from 'express';
import type { SandboxContext } from './context.js';
import { queryString } from './context.js';
import { ACCESS_TOKEN_TTL_S, type AccessToken, type TokenStore } from './tokens.js';

interface OAuthError {
  status: string;
  message: string;
  error: string;
}

const ERRORS = {
  badClient: { status: 'BAD_CLIENT_ID', message: 'missing or invalid client id', error: 'invalid_client' },
  badSecret: {
    status: 'BAD_CLIENT_SECRET',
    message: 'missing or invalid client secret',
    error: 'invalid_client',
  },
  badCode: { status: 'BAD_AUTH_CODE', message: 'missing or unknown auth code', error: 'invalid_grant' },
  badRedirect: { status: 'BAD_REDIRECT_URI', message: 'redirect_uri does not match', error: 'invalid_grant' },
  badRefresh: {
    status: 'BAD_REFRESH_TOKEN',
    message: 'refresh token is invalid, expired or revoked',
    error: 'invalid_grant',
  },
  badGrant: {
    status: 'BAD_GRANT_TYPE',
    message: 'missing or invalid grant type',
    error: 'unsupported_grant_type',
  },
} satisfies Record<string, OAuthError>;

function tokenBody(t: AccessToken, now: number) {
  return {
    token_type: 'bearer',
    refresh_token: t.refreshToken,
    access_token: t.token,
    expires_in: Math.max(0, Math.round((t.expiresAt - now) / 1000)),
    hub_id: t.portalId,
    user_id: t.userId,
    scopes: t.scopes,
    token_use: 'access_token',
  };
}

function field(req: Request, name: string): string | undefined {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const v = body[name];
  return typeof v === 'string' ? v : undefined;
}

/** Whether the v1 endpoints answer (until HubSpot's cut-off) or not (after it). */
export interface OAuthSwitches {
  v1Enabled: boolean;
  /** Calls to a v1 endpoint refused while it was off. */
  v1Refused: number;
}

/** The date HubSpot switches the v1 OAuth endpoints off (hubspot.md §8.3). */
export const V1_OAUTH_SUNSET = '2027-02-16';

export function oauthRouter(
  ctx: SandboxContext,
  tokens: TokenStore,
  defaultPortal: () => number | undefined,
  switches: OAuthSwitches,
): Router {
  const r = Router();
  // After the cut-off the v1 paths are gone. What exactly HubSpot will answer is UNCONFIRMED; a 404 in
  // its usual error shape is what a removed route gives today. Counted, so a test can show none was tried.
  const v1Gone = (req: Request, res: Response, next: () => void) => {
    if (switches.v1Enabled) return next();
    switches.v1Refused++;
    return res.status(404).json({
      status: 'error',
      category: 'OBJECT_NOT_FOUND',
      message: `${req.path}: the v1 OAuth API was switched off on ${V1_OAUTH_SUNSET}; use /oauth/2026-03/token`,
      correlationId: ctx.correlationId(),
    });
  };
  r.use('/oauth/v1', v1Gone);
  const fail = (res: Response, e: OAuthError) =>
    res.status(400).json({
      ...e,
      error_description: e.message,
      correlationId: ctx.correlationId(),
    });

  const authorize = (req: Request, res: Response) => {
    const app = tokens.app(queryString(req, 'client_id') ?? '');
    const redirectUri = queryString(req, 'redirect_uri');
    if (app === undefined || redirectUri === undefined) {
      res.status(400).json({
        status: 'error',
        message: 'Invalid client_id or redirect_uri',
        correlationId: ctx.correlationId(),
      });
      return;
    }
    if (app.redirectUris !== undefined && !app.redirectUris.includes(redirectUri)) {
      res.status(400).json({
        status: 'error',
        message: 'redirect_uri is not allowed for this app',
        correlationId: ctx.correlationId(),
      });
      return;
    }
    const raw =
      (req.params as Record<string, string | undefined>)['portalId'] ?? queryString(req, 'portal_id');
    const portalId = raw !== undefined ? Number(raw) : defaultPortal();
    const state = queryString(req, 'state');
    const target = new URL(redirectUri);
    if (portalId === undefined || !ctx.portals.has(portalId)) {
      target.searchParams.set('error', 'invalid_account');
      target.searchParams.set('error_description', 'No such HubSpot account');
    } else {
      // Optional scopes are granted: every sandbox portal has every feature.
      const scopes = [
        ...(queryString(req, 'scope') ?? '').split(/[ +]/),
        ...(queryString(req, 'optional_scope') ?? '').split(/[ +]/),
      ].filter((s) => s !== '');
      target.searchParams.set('code', tokens.createCode(app, redirectUri, portalId, [...new Set(scopes)]));
    }
    if (state !== undefined) target.searchParams.set('state', state);
    res.redirect(302, target.toString());
  };
  r.get('/oauth/authorize', authorize);
  r.get('/oauth/:portalId/authorize', authorize);

  const token = (req: Request, res: Response) => {
    const app = tokens.app(field(req, 'client_id') ?? '');
    if (app === undefined) return fail(res, ERRORS.badClient);
    if (field(req, 'client_secret') !== app.clientSecret) return fail(res, ERRORS.badSecret);
    const grant = field(req, 'grant_type');
    if (grant === 'authorization_code') {
      const code = tokens.redeemCode(field(req, 'code') ?? '', app, field(req, 'redirect_uri') ?? '');
      if (code === undefined) return fail(res, ERRORS.badCode);
      const t = tokens.issue({ portalId: code.portalId, scopes: code.scopes, app });
      return res.json(tokenBody(t, ctx.clock.now()));
    }
    if (grant === 'refresh_token') {
      const t = tokens.refreshGrant(field(req, 'refresh_token') ?? '', app);
      if (t === undefined) return fail(res, ERRORS.badRefresh);
      return res.json(tokenBody(t, ctx.clock.now()));
    }
    return fail(res, ERRORS.badGrant);
  };
  for (const p of ['/oauth/v1/token', '/oauth/v3/token', '/oauth/2026-03/token']) r.post(p, token);

  r.get('/oauth/v1/access-tokens/:token', (req, res) => {
    const t = tokens.lookup(String(req.params.token));
    const now = ctx.clock.now();
    if (t === undefined || t.expiresAt <= now) {
      res
        .status(404)
        .json({ status: 'error', message: 'Token not found or expired', correlationId: ctx.correlationId() });
      return;
    }
    res.json({
      token: t.token,
      user: t.userEmail,
      hub_domain: `portal-${t.portalId}.sandbox.local`,
      scopes: t.scopes,
      signed_access_token: {
        expiresAt: t.expiresAt,
        hubId: t.portalId,
        userId: t.userId,
        appId: t.appId,
        scopes: t.scopes.join(' '),
      },
      hub_id: t.portalId,
      app_id: t.appId,
      expires_in: Math.round((t.expiresAt - now) / 1000),
      user_id: t.userId,
      token_type: 'access',
    });
  });

  r.get('/oauth/v1/refresh-tokens/:token', (req, res) => {
    const t = tokens.lookupRefresh(String(req.params.token));
    if (t === undefined) {
      res
        .status(404)
        .json({ status: 'error', message: 'Refresh token not found', correlationId: ctx.correlationId() });
      return;
    }
    res.json({
      token: t.refreshToken,
      user: t.userEmail,
      hub_domain: `portal-${t.portalId}.sandbox.local`,
      scopes: t.scopes,
      hub_id: t.portalId,
      client_id: t.clientId,
      user_id: t.userId,
      token_type: 'refresh',
    });
  });
  r.delete('/oauth/v1/refresh-tokens/:token', (req, res) => {
    tokens.revokeRefresh(String(req.params.token));
    res.status(204).end();
  });

  // HubSpot's documented shape, not RFC 7662's: PublicAccessTokenInfoResponse and
  // PublicRefreshTokenInfoResponse of the 2026-03 spec (Auth/Oauth/Rollouts/279897/2026-03/oauth.json).
  // The client authenticates with its id and secret, and learns only about its own tokens. The answer
  // for an unknown or expired token is UNCONFIRMED: `{active: false}`, as the `active` field suggests.
  const introspect = (req: Request, res: Response) => {
    const app = tokens.app(field(req, 'client_id') ?? '');
    if (app === undefined) return fail(res, ERRORS.badClient);
    if (field(req, 'client_secret') !== app.clientSecret) return fail(res, ERRORS.badSecret);
    const value = field(req, 'token') ?? '';
    const now = ctx.clock.now();
    const access = tokens.lookup(value);
    const refresh = access === undefined ? tokens.lookupRefresh(value) : undefined;
    const t = access ?? refresh;
    if (t === undefined || t.clientId !== app.clientId || (access !== undefined && t.expiresAt <= now)) {
      return res.json({ active: false });
    }
    const common = {
      active: true,
      app_id: t.appId,
      client_id: t.clientId,
      hub_domain: `portal-${t.portalId}.sandbox.local`,
      hub_id: t.portalId,
      scopes: t.scopes,
      token_type: 'bearer',
      user: t.userEmail,
      user_id: t.userId,
    };
    if (refresh !== undefined) {
      return res.json({ ...common, token: t.refreshToken, token_use: 'refresh_token' });
    }
    return res.json({
      ...common,
      token: t.token,
      token_use: 'access_token',
      expires_in: Math.round((t.expiresAt - now) / 1000),
      is_private_distribution: false,
      signed_access_token: {
        appId: t.appId,
        expiresAt: t.expiresAt,
        hubId: t.portalId,
        installingUserId: t.userId,
        isPrivateDistribution: false,
        isServiceAccount: false,
        isUserLevel: false,
        scopes: t.scopes.join(' '),
        userId: t.userId,
      },
    });
  };
  const revoke = (req: Request, res: Response) => {
    const value = field(req, 'token') ?? '';
    tokens.revokeAccess(value);
    tokens.revokeRefresh(value);
    res.status(200).json({});
  };
  for (const base of ['/oauth/v3/token', '/oauth/2026-03/token']) {
    r.post(`${base}/introspect`, introspect);
    r.post(`${base}/revoke`, revoke);
  }
  return r;
}

export { ACCESS_TOKEN_TTL_S };
