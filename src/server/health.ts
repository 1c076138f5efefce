// Liveness (/healthz: the process answers), readiness (/readyz: the database answers and this process's
// recent CRM calls are not all failing; degraded while a tenant's work is slowed by its daily API usage,
// and saying which tenants' routing is paused because their CRM account's policy refuses our
// credentials) and Prometheus metrics (/metrics). Web and worker processes both serve these.
import { Router } from 'express';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ServerStorage } from './types.js';

/** A hung database connection must not hang the probe: answer 503 after this long. */
export const READY_TIMEOUT_MS = 2000;

/** A trivial round trip through the storage's own connection (works on SQLite and PostgreSQL). */
export async function pingDatabase(
  storage: Pick<ServerStorage, 'db'>,
  timeoutMs = READY_TIMEOUT_MS,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const row = await Promise.race([storage.db.get<{ ok: number }>('SELECT 1 AS ok'), timeout]);
    if (Number(row?.ok) !== 1) throw new Error('database answered SELECT 1 with something else');
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter(deps: {
  storage: Pick<ServerStorage, 'db' | 'pausedTenants'>;
  logger: Logger;
  metrics?: Metrics | undefined;
}): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.status(200).json({ ok: true });
  });
  router.get('/readyz', async (_req, res) => {
    try {
      await pingDatabase(deps.storage);
    } catch (error) {
      deps.logger.warn('not ready: database check failed', {
        error: error instanceof Error ? error.message : String(error),
      });
      res.status(503).json({ ok: false, database: 'unavailable' });
      return;
    }
    const failing = deps.metrics?.failingPortals() ?? [];
    if (failing.length > 0) {
      res.status(503).json({ ok: false, database: 'ok', crm: 'failing', portals: failing });
      return;
    }
    // Still ready (another instance would meet the same allocation, the same refusal), but saying which
    // orgs are slowed and which tenants' routing is paused, and why.
    const slowed = deps.metrics?.slowedTenants() ?? [];
    const paused = (await deps.storage.pausedTenants()).map((t) => ({ tenantId: t.id, ...t.pause }));
    res.status(200).json({
      ok: true,
      database: 'ok',
      crm: 'ok',
      ...(slowed.length > 0 ? { apiUsage: 'degraded', slowed } : {}),
      ...(paused.length > 0 ? { routing: 'paused', paused } : {}),
    });
  });
  const metrics = deps.metrics;
  if (metrics !== undefined) {
    router.get('/metrics', async (_req, res) => {
      res.set('Content-Type', metrics.contentType).send(await metrics.render());
    });
  }
  return router;
}
