// The settings tab: pages, JSON API and its OpenAPI document, and the link a CRM's signed request
// gets to open the tab (the HubSpot settings extension's iframe).
import { Router, type Request, type Response } from 'express';
import express from 'express';
import type { Access, SettingsAccess } from './access.js';
import { OPEN_PATH, settingsPages, type SettingsPagesDeps } from './pages.js';
import { API_BODY_LIMIT, json, settingsApi, type SettingsApiDeps } from './api.js';
import { openApiDocument } from './openapi.js';
import { SettingsError } from './service.js';
import type { settingsLinkResponseSchema } from './schemas.js';
import type { z } from 'zod';

export type SettingsDeps = SettingsApiDeps & SettingsPagesDeps;

export const SETTINGS_LINK_PATH = '/api/crm/settings-link';

/** The URL of a signed link that opens `access.tenantId`'s tab for `access.user`. */
export function settingsLink(
  access: SettingsAccess,
  publicUrl: string,
  grant: Access,
  now: number,
  ttlMs?: number,
): string {
  const query = new URLSearchParams({ ...access.signLink(grant, now, ttlMs) });
  return `${publicUrl.replace(/\/+$/, '')}${OPEN_PATH}?${query.toString()}`;
}

export function settingsRouter(deps: SettingsDeps): Router {
  const router = Router();
  router.get('/api/openapi.json', (_req: Request, res: Response) => {
    res.json(openApiDocument());
  });
  // A CRM-signed request (the settings extension) asks for a short-lived link to the full tab.
  router.post(
    SETTINGS_LINK_PATH,
    express.raw({ type: () => true, limit: API_BODY_LIMIT }),
    json(async (req: Request): Promise<z.infer<typeof settingsLinkResponseSchema>> => {
      const signed = deps.verifyCrmRequest?.({
        method: req.method,
        uri: deps.publicUrl.replace(/\/+$/, '') + req.originalUrl,
        rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        headers: req.headers,
      });
      const tenant =
        signed == null ? null : await deps.storage.findTenant(signed.provider, signed.externalId);
      if (signed == null || tenant === null || tenant.uninstalledAt !== null)
        throw new SettingsError(404, 'this account has not installed the app');
      return {
        url: settingsLink(
          deps.access,
          deps.publicUrl,
          { tenantId: tenant.id, user: signed.user },
          deps.clock(),
        ),
      };
    }),
  );
  router.use(settingsApi(deps));
  router.use(settingsPages(deps));
  return router;
}

export { SettingsAccess } from './access.js';
export { SettingsService, type CrmStatus } from './service.js';
export { DEFAULT_FRAME_ANCESTORS } from './pages.js';
export type { CrmRequestVerifier } from './api.js';
