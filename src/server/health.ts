// Liveness (/healthz: the process answers), readiness (/readyz: the database answers and this process's
// recent CRM calls are not all failing; degraded while a tenant's work is slowed by its daily API usage
// or a tenant's event stream has no reader, one that cannot subscribe or one whose subscription
// delivers nothing, and saying which tenants'
// routing is paused because their CRM account's policy refuses our credentials) and Prometheus metrics
// (/metrics). Web and worker processes both serve these.
import { Router } from 'express';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { streamFailure, streamSilence, type StreamState } from '../storage/index.js';
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

/**
 * A stream nobody reads (no process holds it, its holder cannot subscribe, or its subscription recently
 * delivered nothing of what its catch-up poll found), as /readyz lists it.
 */
export interface UnreadStream {
  tenantId: string;
  channel: string;
  why: string;
}

/**
 * The streams of routing tenants that no process reads: their new leads wait in the CRM until one
 * does (its catch-up poll then finds them). That includes a stream whose holder has not subscribed for
 * longer than the grace: it renews its lease, but only its catch-up poll brings leads in; and one whose
 * poll recently found records created while it was subscribed that it never delivered. A paused
 * tenant's are left out: its stream waits with its routing, and `paused` says why.
 */
export function unreadStreams(states: readonly StreamState[], now: number): UnreadStream[] {
  return states.flatMap((s) => {
    if (s.paused) return [];
    const unread = { tenantId: s.tenantId, channel: s.channel };
    if (s.lease === null)
      return [
        {
          ...unread,
          why:
            s.lapsedAt === null
              ? 'no process has taken its lease'
              : `its lease ran out at ${new Date(s.lapsedAt).toISOString()} and no process took it over`,
        },
      ];
    const failure = streamFailure(s, now);
    if (failure !== null)
      return [
        {
          ...unread,
          why: `the process reading it has not subscribed since ${new Date(failure.since).toISOString()}: ${failure.error}`,
        },
      ];
    const silence = streamSilence(s, now);
    if (silence === null) return [];
    return [
      {
        ...unread,
        why: `subscribed, but its catch-up poll at ${new Date(silence.at).toISOString()} found ${silence.count} new record${silence.count === 1 ? '' : 's'} the stream never delivered`,
      },
    ];
  });
}

export function healthRouter(deps: {
  storage: Pick<ServerStorage, 'db' | 'pausedTenants'>;
  logger: Logger;
  metrics?: Metrics | undefined;
  /** Every installed tenant's pulled event streams, as the database has them now (one query). */
  streams?: (() => Promise<StreamState[]>) | undefined;
  /** The time the streams are judged at (how long a holder has failed to subscribe). */
  clock?: (() => number) | undefined;
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
    // Still ready (another instance would meet the same allocation, the same refusal, and taking this
    // one out of the load balancer would not bring a stream back), but saying which orgs are slowed,
    // which streams no process reads, and which tenants' routing is paused, and why.
    const slowed = deps.metrics?.slowedTenants() ?? [];
    const [paused, streams] = await Promise.all([
      deps.storage.pausedTenants(),
      deps.streams?.() ?? Promise.resolve([]),
    ]);
    const unread = unreadStreams(streams, (deps.clock ?? Date.now)());
    res.status(200).json({
      ok: true,
      database: 'ok',
      crm: 'ok',
      ...(slowed.length > 0 ? { apiUsage: 'degraded', slowed } : {}),
      ...(unread.length > 0 ? { intake: 'degraded', streams: unread } : {}),
      ...(paused.length > 0
        ? { routing: 'paused', paused: paused.map((t) => ({ tenantId: t.id, ...t.pause })) }
        : {}),
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
