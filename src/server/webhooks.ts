// POST /webhooks/<provider>, one route per pushed intake the composition root gives: the CRM's connector
// verifies the raw bytes and parses them into events (echoes of our own writes dropped); here the events
// of unknown or uninstalled accounts are dropped, everything else is recorded in the inbox in one
// transaction, the records a privacy deletion names are purged, and the CRM gets its answer. Never
// routes inline: HubSpot wants an answer within 5 s and retries any non-2xx (hubspot.md §1.3).
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { CrmEvent } from '../../connectors/connector.js';
import type { PushedIntake } from '../../connectors/pushed-intake.js';
import type { Tenant } from '../storage/index.js';
import { RejectionLog } from './rejections.js';
import { normalizeOrigin, webhookPath, type ServerDeps } from './types.js';

export const DEFAULT_WEBHOOK_BODY_LIMIT = 1024 * 1024;

export function webhookRouter(deps: ServerDeps, rejections = new RejectionLog(deps.logger)): Router {
  const router = Router();
  for (const intake of deps.intakes) webhookRoute(router, intake, deps, rejections);
  return router;
}

function webhookRoute(
  router: Router,
  intake: PushedIntake,
  deps: ServerDeps,
  rejections: RejectionLog,
): void {
  const { storage, logger, clock } = deps;
  const { provider, crmName, accountNoun } = intake;
  const origin = normalizeOrigin(deps.publicUrl);
  router.post(
    webhookPath(provider),
    // Counted once answered, whatever answered: a body-parser refusal (413) as much as a bad signature.
    (_req: Request, res: Response, next: NextFunction) => {
      const metrics = deps.metrics;
      if (metrics !== undefined)
        res.once('finish', () => {
          const events = res.locals['webhookEvents'] as { enqueued: number; duplicates: number } | undefined;
          metrics.webhookAnswered(provider, res.statusCode, events ?? { enqueued: 0, duplicates: 0 });
        });
      next();
    },
    // Any content type: the signature covers the bytes, whatever the CRM labels them.
    express.raw({ type: () => true, limit: deps.webhookBodyLimit ?? DEFAULT_WEBHOOK_BODY_LIMIT }),
    async (req: Request, res: Response) => {
      const now = clock();
      // express.raw leaves `{}` when there was no body at all; the signature is over the empty string then.
      const rawBody: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const verified = intake.verify(
        { method: req.method, uri: origin + req.originalUrl, rawBody, headers: req.headers },
        now,
      );
      if (!verified.ok) {
        // The reason goes to our log only; the caller learns nothing about which check failed.
        rejections.reject(`${provider} webhook rejected`, verified.reason, { bytes: rawBody.length });
        res.status(401).end();
        return;
      }

      const parsed = intake.parse(rawBody);
      if (!parsed.ok) {
        rejections.reject(`${provider} webhook unparseable`, parsed.kind, { detail: parsed.reason });
        res.status(400).json({ error: parsed.reason });
        return;
      }
      const { events, echoes, privacyDeletions, ignored } = parsed.batch;

      const byAccount = new Map<string, CrmEvent[]>();
      for (const { accountId, event } of events) {
        const list = byAccount.get(accountId);
        if (list === undefined) byAccount.set(accountId, [event]);
        else list.push(event);
      }

      let created: number;
      let accepted = 0;
      let uninstalled = 0;
      let purged = 0;
      try {
        const tenants = new Map<string, Tenant | null>();
        const tenantOf = async (accountId: string): Promise<Tenant | null> => {
          if (!tenants.has(accountId)) tenants.set(accountId, await storage.findTenant(provider, accountId));
          return tenants.get(accountId) ?? null;
        };
        const items: { tenantId: string; event: CrmEvent }[] = [];
        for (const [accountId, accountEvents] of byAccount) {
          // Log fields keep the CRM's word for the account (portalId), as the logs always said.
          const account = { [`${accountNoun}Id`]: accountId, events: accountEvents.length };
          const tenant = await tenantOf(accountId);
          if (tenant === null) {
            rejections.reject(
              `${provider} webhook for unknown ${accountNoun} dropped`,
              `${accountNoun} not installed`,
              account,
            );
            continue;
          }
          if (tenant.uninstalledAt !== null) {
            // The CRM retries any non-2xx (HubSpot for a day): answer, but route nothing for one that left.
            uninstalled += accountEvents.length;
            logger.info(`${provider} webhook for uninstalled ${accountNoun} not enqueued`, {
              tenantId: tenant.id,
              ...account,
            });
            continue;
          }
          for (const event of accountEvents) items.push({ tenantId: tenant.id, event });
        }
        accepted = items.length;
        // One call, one transaction: durable before we answer 200.
        created = (await storage.enqueue(items, now)).length;
        // After the enqueue, so an event for the same contact in this very batch is purged too.
        for (const deletion of privacyDeletions) {
          const tenant = await tenantOf(deletion.accountId);
          if (tenant === null) continue;
          const counts = await storage.purgeContact(tenant.id, deletion.leadId, now);
          purged += 1;
          // Counts only: the contact id is what was to be forgotten.
          logger.info('privacy deletion done', { tenantId: tenant.id, rowsDeleted: counts });
        }
      } catch (error) {
        logger.error(`${provider} webhook not recorded; ${crmName} will retry`, {
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
        res.status(503).end();
        return;
      }

      logger.info(`${provider} webhook recorded`, {
        received: events.length + echoes + ignored,
        accepted,
        new: created,
        echoes,
        uninstalled,
        privacyDeletions: purged,
        ignored,
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
}
