// The HubSpot install flows (hubspot.md §8). Started from our site: /install redirects to HubSpot's
// consent page with a one-use state, and /callback checks it. Started on the HubSpot Marketplace (the
// listing's install URL is /callback): HubSpot calls it with `code` and `returnUrl` and no state of ours,
// and the browser must be sent back to `returnUrl` (a HubSpot origin only). Either way the callback
// exchanges the code, learns the portal from the token, creates or updates the tenant and stores the
// token set (encrypted by storage). Tokens never reach a log or a page.
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { CrmError } from '../../connectors/connector.js';
import type { Tenant } from '../storage/index.js';
import { StorageError } from '../storage/index.js';
import { grantedCallback, htmlPage, setUpInstalled, upsertTenant } from './install.js';
import { createOAuthStateStore } from './oauth-state.js';
import { allowedReturnUrl } from './return-url.js';
import {
  CALLBACK_PATH,
  hubspotRedirectUri,
  INSTALL_PATH,
  normalizeOrigin,
  type HubSpotServerConfig,
  type InstallTokens,
  type ServerDeps,
} from './types.js';

const installQuerySchema = z.object({
  /** Optional: pre-select an account on HubSpot's consent page. */
  portalId: z
    .string()
    .regex(/^\d{1,20}$/)
    .optional(),
});

// Express 5 parses repeated keys into arrays; a state or code must be one plain string.
const param = z.string().min(1).max(2048);
const callbackQuerySchema = z.union([
  z.object({ error: param, error_description: z.string().max(2048).optional(), state: param.optional() }),
  // Our own flow carries our state; a Marketplace install carries HubSpot's returnUrl instead.
  z
    .object({ code: param, state: param.optional(), returnUrl: param.optional() })
    .refine((q) => q.state !== undefined || q.returnUrl !== undefined),
]);

/** What we store per tenant (a JSON string, encrypted at rest); the worker's token store reads it back. */
export interface StoredHubSpotTokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
  hubId: number;
  scopes?: string[] | undefined;
}

/** Classifies a failure of the code exchange / token info / storage steps into a status and a page. */
function describeFailure(error: unknown): { status: number; message: string; kind: string } {
  if (error instanceof CrmError) {
    switch (error.kind) {
      case 'auth':
      case 'invalid':
        // A reused or expired code, or a client misconfiguration: starting over is the fix.
        return error.kind === 'auth'
          ? {
              status: 400,
              kind: error.kind,
              message: 'HubSpot refused the authorization code. Please install again.',
            }
          : {
              status: 502,
              kind: error.kind,
              message: 'HubSpot answered with something we did not understand.',
            };
      case 'not_found':
        return {
          status: 502,
          kind: error.kind,
          message: 'HubSpot could not find the new token. Please install again.',
        };
      case 'rate_limited':
      case 'transient':
        return {
          status: 502,
          kind: error.kind,
          message: 'HubSpot is not reachable right now. Please try again in a minute.',
        };
      default: {
        const never: never = error.kind;
        return { status: 502, kind: String(never), message: 'HubSpot install failed.' };
      }
    }
  }
  if (error instanceof StorageError) {
    return {
      status: 503,
      kind: `storage:${error.kind}`,
      message: 'Our database is not available. Please try again.',
    };
  }
  // fetch() rejects with a TypeError when the network fails.
  return {
    status: 502,
    kind: 'network',
    message: 'HubSpot is not reachable right now. Please try again in a minute.',
  };
}

export function oauthRouter(deps: ServerDeps, hubspot: HubSpotServerConfig): Router {
  const { logger, clock } = deps;
  const redirectUri = hubspotRedirectUri(deps.publicUrl);
  const states = createOAuthStateStore({
    secret: hubspot.clientSecret,
    ...(deps.oauthStateTtlMs === undefined ? {} : { ttlMs: deps.oauthStateTtlMs }),
  });
  // The sandbox CRM (or any consent origin set in its place) stands in for HubSpot's own origins.
  const trustedReturnOrigins = hubspot.authorizeOrigin === undefined ? [] : [hubspot.authorizeOrigin];
  const router = Router();

  router.get(INSTALL_PATH, (req: Request, res: Response) => {
    const query = installQuerySchema.safeParse(req.query);
    if (!query.success) {
      htmlPage(res, 400, 'Invalid install link', 'The portalId parameter must be a HubSpot account number.');
      return;
    }
    const state = states.issue(clock());
    let url = hubspot.oauth.authorizeUrl({
      clientId: hubspot.clientId,
      redirectUri,
      state,
      ...(query.data.portalId === undefined ? {} : { portalId: query.data.portalId }),
      ...(hubspot.scopes === undefined ? {} : { scopes: hubspot.scopes }),
      ...(hubspot.optionalScopes === undefined ? {} : { optionalScopes: hubspot.optionalScopes }),
    });
    if (hubspot.authorizeOrigin !== undefined) {
      // The consent URL is on HubSpot's own origin; only the origin changes (the sandbox in tests).
      url = normalizeOrigin(hubspot.authorizeOrigin) + url.slice(new URL(url).origin.length);
    }
    res.redirect(302, url);
  });

  router.get(CALLBACK_PATH, async (req: Request, res: Response) => {
    const now = clock();
    const granted = grantedCallback(callbackQuerySchema.safeParse(req.query), res, {
      crm: 'HubSpot',
      states,
      now,
      logger,
    });
    if (granted === undefined) return;
    const { code, state, returnUrl: rawReturnUrl } = granted;
    // Checked before anything is exchanged or stored: a refused link changes nothing.
    const returnUrl =
      rawReturnUrl === undefined ? undefined : allowedReturnUrl(rawReturnUrl, trustedReturnOrigins);
    if (returnUrl === null) {
      logger.warn('hubspot install callback with a returnUrl off HubSpot refused');
      htmlPage(
        res,
        400,
        'Invalid install link',
        'This install link does not lead back to HubSpot. Please install again from HubSpot.',
      );
      return;
    }
    if (state !== undefined && !states.consume(state, now)) {
      logger.warn('hubspot install callback with unknown or expired state');
      htmlPage(
        res,
        400,
        'Install link expired',
        'This install link is unknown or has expired. Please install again.',
      );
      return;
    }

    let tenant: Tenant;
    let hubId: string;
    try {
      const tokens: InstallTokens = await hubspot.oauth.exchangeCode(code);
      const info = await hubspot.oauth.tokenInfo(tokens.accessToken);
      hubId = String(info.hubId);
      tenant = await upsertTenant(
        deps,
        { provider: 'hubspot', externalId: hubId, name: `HubSpot portal ${hubId}` },
        now,
      );
      const stored: StoredHubSpotTokens = {
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        expiresAt: tokens.expiresAt,
        hubId: info.hubId,
        scopes: info.scopes.length > 0 ? info.scopes : tokens.scopes,
      };
      if (!(await deps.storage.setTenantToken(tenant.id, JSON.stringify(stored), now))) {
        throw new StorageError('corrupt', 'tenant vanished while storing its token');
      }
      tenant = (await deps.storage.getTenant(tenant.id)) ?? tenant;
    } catch (error) {
      const failure = describeFailure(error);
      // Only the class and message: CrmError/StorageError messages carry no token (oauth.ts never puts one in).
      logger.error('hubspot install failed', {
        kind: failure.kind,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      htmlPage(res, failure.status, 'lead-router could not be installed', failure.message);
      return;
    }

    logger.info('hubspot installed', {
      tenantId: tenant.id,
      portalId: hubId,
      flow: returnUrl === undefined ? 'site' : 'marketplace',
    });
    if (!(await setUpInstalled(deps, tenant, res, `Portal ${hubId}`))) return;
    if (returnUrl !== undefined) {
      // Without this HubSpot keeps the user in a login loop.
      res.redirect(302, returnUrl.href);
      return;
    }
    htmlPage(res, 200, 'Installed', `lead-router is installed for portal ${hubId}`);
  });

  return router;
}
