// POST /webhooks/hubspot: verify the v3 signature on the raw bytes, parse, drop echoes and the events of
// unknown or uninstalled portals, record everything else in the inbox in one transaction, purge the
// contacts a privacy deletion names, answer. Never routes inline: HubSpot
// wants an answer within 5 s and retries any non-2xx (hubspot.md §1.3).
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { verifyHubSpotRequest } from '../../connectors/hubspot/signature.js';
import { isOwnEcho, parseWebhookBody } from '../../connectors/hubspot/webhook-payload.js';
import type { CrmEvent } from '../../connectors/connector.js';
import type { Tenant } from '../storage/index.js';
import { RejectionLog } from './rejections.js';
import { normalizeOrigin, WEBHOOK_PATH, type ServerDeps } from './types.js';

export const DEFAULT_WEBHOOK_BODY_LIMIT = 1024 * 1024;

export function webhookRouter(deps: ServerDeps, rejections = new RejectionLog(deps.logger)): Router {
  const { storage, logger, clock, hubspot } = deps;
  const origin = normalizeOrigin(deps.publicUrl);
  const router = Router();

  router.post(
    WEBHOOK_PATH,
    // Counted once answered, whatever answered: a body-parser refusal (413) as much as a bad signature.
    (_req: Request, res: Response, next: NextFunction) => {
      const metrics = deps.metrics;
      if (metrics !== undefined)
        res.once('finish', () => {
          const events = res.locals['webhookEvents'] as { enqueued: number; duplicates: number } | undefined;
          metrics.webhookAnswered('hubspot', res.statusCode, events ?? { enqueued: 0, duplicates: 0 });
        });
      next();
    },
    // Any content type: the signature covers the bytes, whatever HubSpot labels them.
    express.raw({ type: () => true, limit: deps.webhookBodyLimit ?? DEFAULT_WEBHOOK_BODY_LIMIT }),
    async (req: Request, res: Response) => {
      const now = clock();
      // express.raw leaves `{}` when there was no body at all; the signature is over the empty string then.
      const rawBody: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const verified = verifyHubSpotRequest(
        { method: req.method, uri: origin + req.originalUrl, rawBody, headers: req.headers },
        hubspot.clientSecret,
        now,
      );
      if (!verified.ok) {
        // The reason goes to our log only; the caller learns nothing about which check failed.
        rejections.reject('hubspot webhook rejected', verified.reason, { bytes: rawBody.length });
        res.status(401).end();
        return;
      }

      const parsed = parseWebhookBody(rawBody);
      if (!parsed.ok) {
        const kind =
          parsed.error instanceof SyntaxError
            ? 'body is not valid JSON'
            : 'body does not match the webhook schema';
        const issue = parsed.error instanceof SyntaxError ? undefined : parsed.error.issues[0];
        const reason =
          issue === undefined ? kind : `${kind}: ${issue.path.join('.')} ${issue.message}`.trim();
        rejections.reject('hubspot webhook unparseable', kind, { detail: reason });
        res.status(400).json({ error: reason });
        return;
      }
      const { events, privacyDeletions, ignored } = parsed.batch;

      let echoes = 0;
      const byPortal = new Map<string, CrmEvent[]>();
      for (const { portalId, event } of events) {
        if (isOwnEcho(event, hubspot.appId)) {
          echoes += 1;
          continue;
        }
        const list = byPortal.get(portalId);
        if (list === undefined) byPortal.set(portalId, [event]);
        else list.push(event);
      }

      let created: number;
      let accepted = 0;
      let uninstalled = 0;
      let purged = 0;
      try {
        const tenants = new Map<string, Tenant | null>();
        const tenantOf = async (portalId: string): Promise<Tenant | null> => {
          if (!tenants.has(portalId)) tenants.set(portalId, await storage.findTenant('hubspot', portalId));
          return tenants.get(portalId) ?? null;
        };
        const items: { tenantId: string; event: CrmEvent }[] = [];
        for (const [portalId, portalEvents] of byPortal) {
          const tenant = await tenantOf(portalId);
          if (tenant === null) {
            rejections.reject('hubspot webhook for unknown portal dropped', 'portal not installed', {
              portalId,
              events: portalEvents.length,
            });
            continue;
          }
          if (tenant.uninstalledAt !== null) {
            // HubSpot retries any non-2xx for a day: answer, but route nothing for a portal that left.
            uninstalled += portalEvents.length;
            logger.info('hubspot webhook for uninstalled portal not enqueued', {
              tenantId: tenant.id,
              portalId,
              events: portalEvents.length,
            });
            continue;
          }
          for (const event of portalEvents) items.push({ tenantId: tenant.id, event });
        }
        accepted = items.length;
        // One call, one transaction: durable before we answer 200.
        created = await storage.enqueue(items, now);
        // After the enqueue, so an event for the same contact in this very batch is purged too.
        for (const deletion of privacyDeletions) {
          const tenant = await tenantOf(deletion.portalId);
          if (tenant === null) continue;
          const counts = await storage.purgeContact(tenant.id, deletion.contactId, now);
          purged += 1;
          // Counts only: the contact id is what was to be forgotten.
          logger.info('privacy deletion done', { tenantId: tenant.id, rowsDeleted: counts });
        }
      } catch (error) {
        logger.error('hubspot webhook not recorded; HubSpot will retry', {
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
        res.status(503).end();
        return;
      }

      logger.info('hubspot webhook recorded', {
        received: events.length + ignored.length,
        accepted,
        new: created,
        echoes,
        uninstalled,
        privacyDeletions: purged,
        ignored: ignored.length,
      });
      res.locals['webhookEvents'] = { enqueued: created, duplicates: accepted - created };
      res.status(200).json({ ok: true, accepted, new: created });
      if (created > 0 && deps.onEnqueued !== undefined) {
        try {
          deps.onEnqueued(created);
        } catch (error) {
          // The rows are committed; the worker's own poll picks them up even if this wake-up failed.
          logger.error('onEnqueued hook failed', {
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
    },
  );
  return router;
}
