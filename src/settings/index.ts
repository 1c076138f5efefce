// The settings tab: pages, JSON API and its OpenAPI document, and the API the CRM's own UI calls (the
// HubSpot settings extension, which opens the tab in an iframe, and the contact card), and the tab
// opened by a form the CRM signs (a Salesforce canvas app).
import { Router, type Request, type Response } from 'express';
import { settingsPages, type SettingsPagesDeps } from './pages.js';
import { settingsApi, type SettingsApiDeps } from './api.js';
import { crmExtensionRouter, type CrmExtensionDeps } from './crm-extension.js';
import { crmOpenRouter, type CrmOpenDeps } from './crm-open.js';
import { openApiDocument } from './openapi.js';

export type SettingsDeps = SettingsApiDeps & SettingsPagesDeps & CrmExtensionDeps & CrmOpenDeps;

export function settingsRouter(deps: SettingsDeps): Router {
  const router = Router();
  router.get('/api/openapi.json', (_req: Request, res: Response) => {
    res.json(openApiDocument());
  });
  router.use(crmExtensionRouter(deps));
  router.use(crmOpenRouter(deps));
  router.use(settingsApi(deps));
  router.use(settingsPages(deps));
  return router;
}

export {
  settingsLink,
  SETTINGS_LINK_PATH,
  CRM_STATUS_PATH,
  RECORD_ROUTING_PATH,
  RECORD_REROUTE_PATH,
} from './crm-extension.js';
export { CRM_OPEN_PATH, type CrmCaller } from './crm-open.js';
export { SettingsAccess } from './access.js';
export { SettingsService, type CrmStatus } from './service.js';
export { DEFAULT_FRAME_ANCESTORS } from './pages.js';
export type { CrmRequestVerifier } from './api.js';
