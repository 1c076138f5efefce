// The settings tab's JSON API, under /api/tenants/:tenantId. Every request is checked for access to
// that tenant first (a session of that tenant, with its CSRF token on state-changing requests, or a
// request the CRM signed for that tenant), then its input is parsed with the shared zod schemas.
// More routes (reports) plug in through `tenantRoutes` and get the same check.
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { ZodError, type z } from 'zod';
import type { Logger } from '../log.js';
import type { Storage, Tenant } from '../storage/index.js';
import { cookieValue, sessionCookieName, type Access, type SettingsAccess } from './access.js';
import {
  activityQuerySchema,
  approvalsRequestSchema,
  previewRequestSchema,
  publishRequestSchema,
  repPatchRequestSchema,
  rollbackRequestSchema,
  simulateRequestSchema,
  validateRequestSchema,
} from './schemas.js';
import { diagnosticView, SettingsError, type SettingsService } from './service.js';

/** A request as the CRM signed it: what the composition root's verifier checks. */
export interface CrmSignedRequest {
  method: string;
  /** The full public URI, as called. */
  uri: string;
  rawBody: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Checks a request the CRM signed and says which CRM account and user it is from, or null. The
 * composition root builds it from the connector's signature check (HubSpot v3).
 */
export type CrmRequestVerifier = (
  req: CrmSignedRequest,
) => { provider: Tenant['provider']; externalId: string; user: string } | null;

export interface SettingsApiDeps {
  service: SettingsService;
  access: SettingsAccess;
  storage: Pick<Storage, 'getTenant' | 'findTenant'>;
  logger: Logger;
  clock: () => number;
  /** The public origin, to rebuild the URI a CRM signed. */
  publicUrl: string;
  verifyCrmRequest?: CrmRequestVerifier | undefined;
  /** More routes under /api/tenants/:tenantId, behind the same access check (`res.locals.access`). */
  tenantRoutes?: readonly ((router: Router) => void)[] | undefined;
}

export const API_BODY_LIMIT = '2mb';

/** A route parameter as one string ('' when absent). */
export function param(req: Request, name: string): string {
  const v = req.params[name];
  return typeof v === 'string' ? v : '';
}

/** The access a request was granted (set by the access check; every tenant route may rely on it). */
export function accessOf(res: Response): Access {
  const access = (res.locals as { access?: Access }).access;
  if (access === undefined) throw new Error('tenant route reached without an access check');
  return access;
}

/** Parses the raw JSON body with a schema; a bad body is a 400 that names the first problem. */
export function bodyOf<S extends z.ZodTypeAny>(req: Request, schema: S): z.output<S> {
  const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
  let value: unknown;
  try {
    value = raw === '' ? {} : JSON.parse(raw);
  } catch {
    throw new SettingsError(400, 'the body is not JSON');
  }
  return schema.parse(value) as z.output<S>;
}

function zodMessage(error: ZodError): string {
  const first = error.issues[0];
  if (first === undefined) return 'invalid request';
  const where = first.path.join('.');
  return where === '' ? first.message : `${where}: ${first.message}`;
}

/** Runs a handler and answers its JSON; refusals become their status with a readable error. */
export function json<T>(fn: (req: Request, res: Response) => Promise<T>) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      res.json(await fn(req, res));
    } catch (error) {
      if (error instanceof SettingsError) {
        res.status(error.status).json({
          error: error.message,
          ...(error.diagnostics.length > 0 ? { errors: error.diagnostics.map(diagnosticView) } : {}),
        });
      } else if (error instanceof ZodError) res.status(400).json({ error: zodMessage(error) });
      else next(error);
    }
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The check in front of every tenant route. Refusals say nothing about which part failed. */
export function requireTenantAccess(deps: SettingsApiDeps) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const tenantId = param(req, 'tenantId');
    const deny = (): void => {
      res.status(401).json({ error: 'open this tab from your CRM' });
    };
    const tenant = tenantId === '' ? null : await deps.storage.getTenant(tenantId);
    if (tenant === null || tenant.uninstalledAt !== null) return deny();
    res.setHeader('Cache-Control', 'no-store');

    if (req.get('x-hubspot-signature-v3') !== undefined) {
      const signed = deps.verifyCrmRequest?.({
        method: req.method,
        uri: deps.publicUrl.replace(/\/+$/, '') + req.originalUrl,
        rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        headers: req.headers,
      });
      if (signed == null || signed.provider !== tenant.provider || signed.externalId !== tenant.externalId)
        return deny();
      res.locals['access'] = { tenantId, user: signed.user } satisfies Access;
      return next();
    }

    const session = deps.access.readSession(
      cookieValue(req.get('cookie'), sessionCookieName(tenantId)),
      tenantId,
      deps.clock(),
    );
    if (session === null) return deny();
    if (!SAFE_METHODS.has(req.method) && !deps.access.checkCsrf(session, req.get('x-csrf-token'))) {
      res.status(403).json({ error: 'missing or wrong CSRF token: reload the page' });
      return;
    }
    res.locals['access'] = { tenantId, user: session.user } satisfies Access;
    next();
  };
}

export function settingsApi(deps: SettingsApiDeps): Router {
  const { service } = deps;
  const tenant = Router({ mergeParams: true });
  // Raw bytes first: a CRM signature is checked over them, then the schemas parse them.
  tenant.use(express.raw({ type: () => true, limit: API_BODY_LIMIT }));
  tenant.use(requireTenantAccess(deps));

  const id = (res: Response): string => accessOf(res).tenantId;

  tenant.get(
    '/rules',
    json((_req, res) => service.rules(id(res))),
  );
  tenant.post(
    '/rules/validate',
    json((req, res) => service.validate(id(res), bodyOf(req, validateRequestSchema).source)),
  );
  tenant.post(
    '/rules/publish',
    json((req, res) => service.publish(id(res), bodyOf(req, publishRequestSchema), accessOf(res).user)),
  );
  tenant.post(
    '/rules/rollback',
    json(async (req, res) => {
      const { version, note } = bodyOf(req, rollbackRequestSchema);
      return service.rollback(id(res), version, note, accessOf(res).user);
    }),
  );
  tenant.get(
    '/approvals',
    json((_req, res) => service.approvals(id(res))),
  );
  tenant.put(
    '/approvals',
    json((req, res) =>
      service.setApprovals(id(res), bodyOf(req, approvalsRequestSchema).required, accessOf(res).user),
    ),
  );
  for (const decision of ['approve', 'reject'] as const)
    tenant.post(
      `/approvals/:requestId/${decision}`,
      json((req, res) => {
        const request = Number(param(req, 'requestId'));
        if (!Number.isSafeInteger(request)) throw new SettingsError(400, 'a request id is a number');
        return service.decideRequest(id(res), request, decision, accessOf(res).user);
      }),
    );
  tenant.post(
    '/simulate',
    json((req, res) => service.simulate(id(res), bodyOf(req, simulateRequestSchema))),
  );
  tenant.post(
    '/preview',
    json((req, res) => {
      const { source, limit } = bodyOf(req, previewRequestSchema);
      return service.preview(id(res), source, limit);
    }),
  );
  tenant.get(
    '/team',
    json((_req, res) => service.team(id(res))),
  );
  tenant.patch(
    '/team/reps/:email',
    json((req, res) =>
      service.editRep(id(res), param(req, 'email'), bodyOf(req, repPatchRequestSchema), accessOf(res).user),
    ),
  );
  tenant.get(
    '/activity',
    json((req, res) => service.activity(id(res), activityQuerySchema.parse(req.query))),
  );
  tenant.get(
    '/activity/:leadId',
    json((req, res) => service.lead(id(res), param(req, 'leadId'))),
  );
  tenant.post(
    '/activity/:leadId/reroute',
    json((req, res) => service.reroute(id(res), param(req, 'leadId'))),
  );
  tenant.get(
    '/health',
    json((_req, res) => service.healthOf(id(res))),
  );
  tenant.post(
    '/dead-letters/:id/replay',
    json(async (req, res) => {
      const deadLetter = Number(param(req, 'id'));
      if (!Number.isSafeInteger(deadLetter)) throw new SettingsError(400, 'a dead letter id is a number');
      return service.replay(id(res), deadLetter);
    }),
  );
  for (const add of deps.tenantRoutes ?? []) add(tenant);

  const api = Router();
  api.use('/api/tenants/:tenantId', tenant);
  return api;
}
