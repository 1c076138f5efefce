// The tab opened by a form the CRM signs and posts into its own frame: a Salesforce canvas app, whose
// URL is this path, gets a signed request for the org and user on every opening. Checked by the
// composition root's verifier, it becomes a short-lived link for that tenant and user — the same link
// HubSpot's extension gets — followed at once, which opens the tenant's session.
import express, { Router, type Request, type Response } from 'express';
import { escapeHtml } from '../server/html.js';
import type { Storage, Tenant } from '../storage/index.js';
import type { SettingsAccess } from './access.js';
import { API_BODY_LIMIT } from './api.js';
import { settingsLink } from './crm-extension.js';

/** Which CRM account and user a signed form is from. */
export interface CrmCaller {
  provider: Tenant['provider'];
  externalId: string;
  user: string;
}

export interface CrmOpenDeps {
  access: SettingsAccess;
  storage: Pick<Storage, 'findTenant'>;
  clock: () => number;
  /** Checks a signed form (Salesforce: `signed_request`); null when it is not one. Absent: the server
   * cannot check one (no consumer secret). */
  verifyCrmForm?: ((form: URLSearchParams) => CrmCaller | null) | undefined;
}

/** A Salesforce canvas app's URL: `<PUBLIC_URL>/settings/crm-open`. */
export const CRM_OPEN_PATH = '/settings/crm-open';

function refuse(res: Response, status: number, why: string): void {
  res
    .status(status)
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>lead-router settings</title></head><body><main><h1>lead-router settings</h1><p>${escapeHtml(why)}</p></main></body></html>`,
    );
}

export function crmOpenRouter(deps: CrmOpenDeps): Router {
  const router = Router();
  router.post(
    CRM_OPEN_PATH,
    express.urlencoded({ extended: false, limit: API_BODY_LIMIT }),
    async (req: Request, res: Response) => {
      const form = new URLSearchParams();
      const body: unknown = req.body;
      if (typeof body === 'object' && body !== null)
        for (const [k, v] of Object.entries(body)) if (typeof v === 'string') form.set(k, v);
      if (deps.verifyCrmForm === undefined) {
        refuse(
          res,
          503,
          "This server cannot check a Salesforce canvas request: set SALESFORCE_CLIENT_SECRET (the connected app's consumer secret) where lead-router runs, and restart it.",
        );
        return;
      }
      const caller = deps.verifyCrmForm(form);
      const tenant =
        caller === null ? null : await deps.storage.findTenant(caller.provider, caller.externalId);
      if (caller === null || tenant === null || tenant.uninstalledAt !== null) {
        refuse(res, 401, 'Open this tab from your CRM, in an org that installed the app.');
        return;
      }
      res
        .set('Cache-Control', 'no-store')
        .set('Referrer-Policy', 'no-referrer')
        .redirect(
          303,
          settingsLink(deps.access, '', { tenantId: tenant.id, user: caller.user }, deps.clock()),
        );
    },
  );
  return router;
}
