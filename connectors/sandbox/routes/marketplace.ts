// HubSpot's side of a listed app: an install started on the Marketplace listing (HubSpot's updated
// install flow without partner sign-in: the app's install URL receives `code` and `returnUrl` and must
// send the browser back to `returnUrl`), an uninstall from the portal's Connected Apps page, after
// which the app's refresh tokens answer BAD_REFRESH_TOKEN, and a GDPR delete of a contact, which the app
// hears as `contact.privacyDeletion`. The `/_sandbox` routes are test-only knobs.
import { Router, type Request } from 'express';
import type { SandboxContext } from '../context.js';
import { param, queryString } from '../context.js';
import { SandboxHttpError } from '../errors.js';
import type { TokenStore } from '../tokens.js';
import type { WebhookDispatcher } from '../webhooks.js';

/** Where HubSpot sends the user back to after a Marketplace install (HubSpot's own page in real life). */
export const MARKETPLACE_RETURN_PATH = '/marketplace/installed';

function originOf(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? '127.0.0.1'}`;
}

export function marketplaceRouter(
  ctx: SandboxContext,
  tokens: TokenStore,
  webhooks: WebhookDispatcher,
): Router {
  const r = Router();

  const appOf = (clientId: string | undefined) => {
    const app = tokens.app(clientId ?? '');
    if (app === undefined)
      throw new SandboxHttpError(400, 'VALIDATION_ERROR', 'missing or invalid client_id');
    return app;
  };
  const portalOf = (raw: string | undefined) => {
    const portal = raw === undefined ? undefined : ctx.portals.get(Number(raw));
    if (portal === undefined) throw new SandboxHttpError(404, 'OBJECT_NOT_FOUND', `no portal ${raw ?? ''}`);
    return portal;
  };

  // The listing's Install button, after the user consented on HubSpot's side: HubSpot calls the app's
  // install URL (one of its redirect URLs, chosen in the listing editor) with a code bound to it.
  r.get('/_sandbox/marketplace/install', (req, res) => {
    const app = appOf(queryString(req, 'client_id'));
    const portal = portalOf(queryString(req, 'portalId'));
    const installUrl = queryString(req, 'install_url');
    if (
      installUrl === undefined ||
      (app.redirectUris !== undefined && !app.redirectUris.includes(installUrl))
    )
      throw new SandboxHttpError(400, 'VALIDATION_ERROR', 'install_url is not a redirect URL of this app');
    const scopes = (queryString(req, 'scope') ?? '').split(/[ +]/).filter((s) => s !== '');
    const code = tokens.createCode(app, installUrl, portal.portalId, scopes.length > 0 ? scopes : undefined);
    const target = new URL(installUrl);
    target.searchParams.set('code', code);
    target.searchParams.set(
      'returnUrl',
      `${originOf(req)}${MARKETPLACE_RETURN_PATH}?portalId=${portal.portalId}`,
    );
    res.redirect(302, target.toString());
  });

  r.get(MARKETPLACE_RETURN_PATH, (req, res) => {
    res.json({ installed: true, portalId: Number(queryString(req, 'portalId')) });
  });

  // Connected Apps → Uninstall: every token of the app for this portal stops working.
  r.post('/_sandbox/portals/:portalId/uninstall', (req, res) => {
    const app = appOf(queryString(req, 'client_id'));
    const portal = portalOf(param(req, 'portalId'));
    res.json({ revoked: tokens.uninstall(portal.portalId, app.clientId) });
  });

  // Settings → Privacy → "Permanently delete" a contact: the apps subscribed hear of it.
  r.post('/_sandbox/portals/:portalId/contacts/:contactId/privacy-deletion', (req, res) => {
    const portal = portalOf(param(req, 'portalId'));
    const contactId = param(req, 'contactId');
    if (!/^\d+$/.test(contactId))
      throw new SandboxHttpError(400, 'VALIDATION_ERROR', 'contactId must be a number');
    res.json({ events: webhooks.privacyDeletion(portal.portalId, contactId) });
  });
  return r;
}
