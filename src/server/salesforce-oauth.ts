// The Salesforce install (salesforce.md §6): /oauth/salesforce/install sends the admin to the org's
// consent page (web-server flow with PKCE, scopes `api refresh_token id`) with a signed, one-use state,
// also set as a cookie in this browser; /oauth/salesforce/callback accepts only that state from that
// browser, exchanges the code with the PKCE verifier, learns the org from the identity URL, creates or
// updates the tenant (one org is one tenant) and stores the token set (encrypted by storage). Tokens
// never reach a log or a page.
import { timingSafeEqual } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { CrmError } from '../../connectors/connector.js';
import { cookieValue } from '../settings/access.js';
import { StorageError, type Tenant } from '../storage/index.js';
import { grantedCallback, htmlPage, setUpInstalled, upsertTenant } from './install.js';
import { createOAuthStateStore } from './oauth-state.js';
import { normalizeOrigin, type ServerDeps } from './types.js';

export const SALESFORCE_INSTALL_PATH = '/oauth/salesforce/install';
export const SALESFORCE_CALLBACK_PATH = '/oauth/salesforce/callback';
/** Binds an install's state to the browser that started it (login CSRF: a callback from elsewhere fails). */
const STATE_COOKIE = 'lr_sf_install';

/** The callback URL to register in the connected app (or external client app). */
export function salesforceRedirectUri(publicUrl: string): string {
  return normalizeOrigin(publicUrl) + SALESFORCE_CALLBACK_PATH;
}

const param = z.string().min(1).max(2048);
const callbackQuerySchema = z.union([
  z.object({ error: param, error_description: z.string().max(2048).optional(), state: param.optional() }),
  z.object({ code: param, state: param }),
]);

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A failed exchange or store as a status and a page that says what to do. */
function describeFailure(error: unknown): { status: number; kind: string; message: string } {
  if (error instanceof CrmError) {
    switch (error.kind) {
      case 'auth':
        return {
          status: 400,
          kind: error.kind,
          message: `Salesforce refused the install: ${error.message}. Please install again.`,
        };
      case 'invalid':
      case 'not_found':
        return {
          status: 502,
          kind: error.kind,
          message: 'Salesforce answered with something we did not understand. Please install again.',
        };
      case 'rate_limited':
      case 'transient':
        return {
          status: 502,
          kind: error.kind,
          message: 'Salesforce is not reachable right now. Please try again in a minute.',
        };
      default: {
        const never: never = error.kind;
        return { status: 502, kind: String(never), message: 'Salesforce install failed.' };
      }
    }
  }
  if (error instanceof StorageError)
    return {
      status: 503,
      kind: `storage:${error.kind}`,
      message: 'Our database is not available. Please try again.',
    };
  return {
    status: 502,
    kind: 'network',
    message: 'Salesforce is not reachable right now. Please try again in a minute.',
  };
}

export function salesforceOAuthRouter(deps: ServerDeps): Router {
  const router = Router();
  const salesforce = deps.salesforce;
  if (salesforce === undefined) return router;
  const { logger, clock } = deps;
  const states = createOAuthStateStore({
    secret: salesforce.stateSecret,
    ...(deps.oauthStateTtlMs === undefined ? {} : { ttlMs: deps.oauthStateTtlMs }),
  });
  const ttlS = Math.round((deps.oauthStateTtlMs ?? 10 * 60_000) / 1000);
  const secure = deps.publicUrl.startsWith('https:') ? '; Secure' : '';
  // SameSite=Lax: sent on the top-level GET that brings the admin back from Salesforce.
  const setCookie = (value: string, maxAge: number): string =>
    `${STATE_COOKIE}=${value}; Path=/oauth/salesforce; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`;

  router.get(SALESFORCE_INSTALL_PATH, (_req: Request, res: Response) => {
    const state = states.issue(clock());
    res.set('Set-Cookie', setCookie(state, ttlS));
    res.set('Cache-Control', 'no-store');
    res.redirect(302, salesforce.install.authorizeUrl(state));
  });

  router.get(SALESFORCE_CALLBACK_PATH, async (req: Request, res: Response) => {
    const now = clock();
    res.set('Cache-Control', 'no-store');
    const granted = grantedCallback(callbackQuerySchema.safeParse(req.query), res, {
      crm: 'Salesforce',
      states,
      now,
      logger,
    });
    if (granted === undefined) return;
    const { code, state } = granted;
    // Checked before anything is exchanged or stored: a refused callback changes nothing.
    const started = cookieValue(req.get('cookie'), STATE_COOKIE);
    if (started === undefined || !sameText(started, state) || !states.consume(state, now)) {
      logger.warn('salesforce install callback refused: state unknown, expired, or not from this browser');
      htmlPage(
        res,
        400,
        'Install link expired',
        'This install link is unknown, has expired, or was started in another browser. Please install again.',
      );
      return;
    }
    res.append('Set-Cookie', setCookie('', 0));

    let tenant: Tenant;
    let orgId: string;
    let orgName: string | undefined;
    try {
      const installed = await salesforce.install.exchange(code, state);
      orgId = installed.orgId;
      orgName = installed.orgName;
      const name = orgName ?? `Salesforce org ${orgId}`;
      tenant = await upsertTenant(deps, { provider: 'salesforce', externalId: orgId, name }, now);
      // A reinstall shows the org by its name of now (it may have been renamed, or unread before).
      if (orgName !== undefined && tenant.name !== orgName)
        await deps.storage.renameTenant(tenant.id, orgName, now);
      if (!(await deps.storage.setTenantToken(tenant.id, installed.tokens, now)))
        throw new StorageError('corrupt', 'tenant vanished while storing its token');
      tenant = (await deps.storage.getTenant(tenant.id)) ?? tenant;
    } catch (error) {
      const failure = describeFailure(error);
      logger.error('salesforce install failed', {
        kind: failure.kind,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      htmlPage(res, failure.status, 'lead-router could not be installed', failure.message);
      return;
    }

    logger.info('salesforce installed', {
      tenantId: tenant.id,
      orgId,
      orgNameRead: orgName !== undefined,
    });
    if (!(await setUpInstalled(deps, tenant, res, `Org ${orgId}`))) return;
    htmlPage(
      res,
      200,
      'Installed',
      `lead-router is installed for Salesforce org ${orgId}${orgName === undefined ? '' : ` (${orgName})`}`,
    );
  });

  return router;
}
