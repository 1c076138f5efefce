// The JSON API the CRM's own UI calls: HubSpot's settings extension and contact card (hubspot.fetch).
// HubSpot signs each request (v3) and names the portal and the user in the query it signs, so the tenant
// comes from the verified signature, never from the path or body. A request without a valid signature,
// or for an account that has not installed the app, is refused with nothing said about why.
import express, { Router, type Request } from 'express';
import type { z } from 'zod';
import type { Trace } from '../core/types.js';
import type { Logger } from '../log.js';
import type { Storage, Tenant } from '../storage/index.js';
import type { Access, SettingsAccess } from './access.js';
import { API_BODY_LIMIT, json, param, type CrmRequestVerifier } from './api.js';
import { OPEN_PATH } from './pages.js';
import type {
  crmStatusResponseSchema,
  recordRoutingResponseSchema,
  rerouteResponseSchema,
  settingsLinkResponseSchema,
} from './schemas.js';
import { SettingsError, resolvedText, type SettingsService } from './service.js';

export const CRM_API = '/api/crm';
export const SETTINGS_LINK_PATH = `${CRM_API}/settings-link`;
export const CRM_STATUS_PATH = `${CRM_API}/status`;
/** `:recordId` is the CRM's id of the contact or lead. */
export const RECORD_ROUTING_PATH = `${CRM_API}/records/:recordId/routing`;
export const RECORD_REROUTE_PATH = `${CRM_API}/records/:recordId/reroute`;

/** How many trace lines the card shows; the full trace is on the Activity page. */
const CARD_TRACE_LINES = 8;

export interface CrmExtensionDeps {
  service: SettingsService;
  access: SettingsAccess;
  storage: Pick<Storage, 'findTenant' | 'decisionsFor' | 'slaTimersFor'>;
  logger: Logger;
  clock: () => number;
  /** The public origin, to rebuild the URI the CRM signed. */
  publicUrl: string;
  verifyCrmRequest?: CrmRequestVerifier | undefined;
}

/** The URL of a signed link that opens `grant.tenantId`'s tab for `grant.user`. */
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

/** The installed tenant and user a CRM-signed request is from; a 404 for anything else. */
async function signedTenant(deps: CrmExtensionDeps, req: Request): Promise<{ tenant: Tenant; user: string }> {
  const signed = deps.verifyCrmRequest?.({
    method: req.method,
    uri: deps.publicUrl.replace(/\/+$/, '') + req.originalUrl,
    rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
    headers: req.headers,
  });
  const tenant = signed == null ? null : await deps.storage.findTenant(signed.provider, signed.externalId);
  if (signed == null || tenant === null || tenant.uninstalledAt !== null)
    throw new SettingsError(404, 'this account has not installed the app');
  return { tenant, user: signed.user };
}

function recordId(req: Request): string {
  const id = param(req, 'recordId');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new SettingsError(400, 'a record id is letters and digits');
  return id;
}

/** The trace in short: each rule checked in order (✓ matched), each pool's pick, then resolution steps. */
export function traceLines(trace: Trace): string[] {
  return [
    ...trace.routes.map(
      (r) => `${r.matched ? '✓' : '✗'} ${r.name}${r.note === undefined ? '' : ` (${r.note})`}`,
    ),
    ...trace.assignments.map((a) => `pool ${a.pool}: ${a.reason}`),
    ...trace.steps,
  ].slice(0, CARD_TRACE_LINES);
}

/** The last decision on a record, as the card shows it, with the SLA it set. */
export async function recordRouting(
  storage: CrmExtensionDeps['storage'],
  tenantId: string,
  leadId: string,
): Promise<z.infer<typeof recordRoutingResponseSchema>> {
  const [last] = await storage.decisionsFor(tenantId, { leadId }, 1);
  if (last === undefined) return { recordId: leadId, decision: null, sla: null };
  const timer = (await storage.slaTimersFor(tenantId, leadId)).findLast(
    (t) => t.decisionKey === last.decisionKey,
  );
  return {
    recordId: leadId,
    decision: {
      decidedAt: last.decidedAt,
      owner: last.owner,
      destination: resolvedText(last.destination),
      rule: last.route?.name ?? null,
      rulesetVersion: last.ruleSet.version,
      summary: last.summary,
      steps: traceLines(last.trace),
    },
    sla: timer === undefined ? null : { state: timer.state, dueAt: timer.dueAt },
  };
}

export function crmExtensionRouter(deps: CrmExtensionDeps): Router {
  const router = Router();
  // Raw bytes first: the signature is checked over them.
  router.use(CRM_API, express.raw({ type: () => true, limit: API_BODY_LIMIT }));

  // The settings extension asks for a short-lived link to the full tab (opened in an iframe modal).
  router.post(
    SETTINGS_LINK_PATH,
    json(async (req): Promise<z.infer<typeof settingsLinkResponseSchema>> => {
      const { tenant, user } = await signedTenant(deps, req);
      return {
        url: settingsLink(deps.access, deps.publicUrl, { tenantId: tenant.id, user }, deps.clock()),
      };
    }),
  );

  router.get(
    CRM_STATUS_PATH,
    json(async (req, res): Promise<z.infer<typeof crmStatusResponseSchema>> => {
      const { tenant } = await signedTenant(deps, req);
      res.setHeader('Cache-Control', 'no-store');
      const [health, rules] = await Promise.all([
        deps.service.healthOf(tenant.id),
        deps.service.rules(tenant.id),
      ]);
      const last = rules.publications.find((p) => p.rulesetVersion === rules.active?.version);
      return {
        tenant: tenant.name,
        crm: health.crm,
        published:
          rules.active === null
            ? null
            : {
                version: rules.active.version,
                name: rules.active.name,
                publishedAt: last?.publishedAt ?? null,
                publishedBy: last?.publishedBy ?? null,
              },
        inbox: { pending: health.inbox.pending, oldestPendingAgeMs: health.inbox.oldestPendingAgeMs },
        deadLetters: health.inbox.failed,
      };
    }),
  );

  router.get(
    RECORD_ROUTING_PATH,
    json(async (req, res) => {
      const { tenant } = await signedTenant(deps, req);
      res.setHeader('Cache-Control', 'no-store');
      return recordRouting(deps.storage, tenant.id, recordId(req));
    }),
  );

  router.post(
    RECORD_REROUTE_PATH,
    json(async (req): Promise<z.infer<typeof rerouteResponseSchema>> => {
      const { tenant } = await signedTenant(deps, req);
      const leadId = recordId(req);
      const queued = await deps.service.reroute(tenant.id, leadId);
      deps.logger.info('re-route requested from the CRM', { tenantId: tenant.id, leadId });
      return queued;
    }),
  );
  return router;
}
