// Test-only admin API: faults, latency, rate limits, the write log, and what a portal admin changes in
// HubSpot's UI (deactivating a user, deleting a sequence). Not part of HubSpot's surface.
import { Router } from 'express';
import { z } from 'zod';
import type { SandboxContext } from '../context.js';
import { param, queryString } from '../context.js';
import { SandboxHttpError, notFound } from '../errors.js';
import { applyFaults, faultsBody, type FaultInjector } from '../../sandbox-kit/faults.js';
import type { OAuthSwitches } from '../oauth.js';
import type { RateLimiter } from '../rate-limit.js';
import type { WebhookDispatcher } from '../webhooks.js';
import type { WriteKind, WriteLog, WriteSource } from '../write-log.js';
import { parseBody } from './crm-objects.js';

const ownerBody = z.object({ active: z.boolean() });
const oauthBody = z.object({ v1Enabled: z.boolean() }).strict();
const apiBody = z
  .object({ searchLagMs: z.number().int().min(0).optional(), shuffleBatchResults: z.boolean().optional() })
  .strict();
const sequenceBody = z.object({ name: z.string().min(1), userId: z.number().int() });
const rateBody = z.object({
  max: z.number().int().min(1).optional(),
  windowMs: z.number().int().min(1).optional(),
  searchPerSecond: z.number().int().min(1).optional(),
  daily: z.number().int().min(1).optional(),
});

export function adminRouter(deps: {
  ctx: SandboxContext;
  writes: WriteLog;
  faults: FaultInjector;
  limiter: RateLimiter;
  webhooks: WebhookDispatcher;
  oauth: OAuthSwitches;
}): Router {
  const r = Router();
  r.post('/_sandbox/faults', (req, res) => {
    res.json(applyFaults(deps.faults, parseBody(faultsBody, req.body)));
  });
  r.post('/_sandbox/rate-limits', (req, res) => {
    const body = parseBody(rateBody, req.body);
    deps.limiter.configure(Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)));
    res.json({ ok: true });
  });
  // `{"v1Enabled": false}`: the v1 OAuth endpoints answer as after HubSpot's cut-off.
  r.post('/_sandbox/oauth', (req, res) => {
    deps.oauth.v1Enabled = parseBody(oauthBody, req.body).v1Enabled;
    res.json(deps.oauth);
  });
  // `{"searchLagMs": 2000, "shuffleBatchResults": true}`: see ApiBehaviour.
  r.post('/_sandbox/api', (req, res) => {
    const body = parseBody(apiBody, req.body);
    if (body.searchLagMs !== undefined) deps.ctx.behaviour.searchLagMs = body.searchLagMs;
    if (body.shuffleBatchResults !== undefined)
      deps.ctx.behaviour.shuffleBatchResults = body.shuffleBatchResults;
    res.json(deps.ctx.behaviour);
  });
  r.post('/_sandbox/reset', (_req, res) => {
    deps.faults.reset();
    deps.limiter.reset();
    deps.writes.clear();
    res.json({ ok: true });
  });
  r.get('/_sandbox/writes', (req, res) => {
    const portalId = queryString(req, 'portalId');
    res.json({
      results: deps.writes.list({
        portalId: portalId === undefined ? undefined : Number(portalId),
        kind: queryString(req, 'kind') as WriteKind | undefined,
        objectId: queryString(req, 'objectId'),
        source: queryString(req, 'source') as WriteSource | undefined,
      }),
    });
  });
  r.get('/_sandbox/webhooks/attempts', (_req, res) => {
    res.json({ results: deps.webhooks.attempts, deadLetters: deps.webhooks.deadLetters });
  });

  const portalOf = (raw: string) => {
    const portal = deps.ctx.portals.get(Number(raw));
    if (portal === undefined) throw new SandboxHttpError(404, 'OBJECT_NOT_FOUND', `no portal ${raw}`);
    return portal;
  };
  // A user deactivated (or reactivated) in the portal's settings.
  r.post('/_sandbox/portals/:portalId/owners/:ownerId', (req, res) => {
    const { active } = parseBody(ownerBody, req.body);
    const owner = portalOf(param(req, 'portalId')).setOwnerActive(param(req, 'ownerId'), active);
    res.json({ id: owner.id, email: owner.email, archived: owner.archived });
  });
  r.post('/_sandbox/portals/:portalId/sequences', (req, res) => {
    const { name, userId } = parseBody(sequenceBody, req.body);
    const seq = portalOf(param(req, 'portalId')).addSequence(name, userId);
    res.status(201).json({ id: seq.id, name: seq.name, userId: String(seq.userId) });
  });
  r.delete('/_sandbox/portals/:portalId/sequences/:sequenceId', (req, res) => {
    const id = param(req, 'sequenceId');
    if (!portalOf(param(req, 'portalId')).deleteSequence(id)) throw notFound(id);
    res.status(204).end();
  });
  return r;
}
