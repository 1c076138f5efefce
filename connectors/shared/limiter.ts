// Our own per-portal rate limiters (Bottleneck), NOT @hubspot/api-client's decorator: the client keeps
// its limiter in a process-wide singleton that the last constructed Client overwrites (hubspot.md §7.3).
// Construct clients with no `limiterOptions` (its limiter is only installed when that option is set)
// and `numberOfApiCallRetries: 0`, and schedule every call through these buckets instead.
import Bottleneck from 'bottleneck';
import type { Redis, Cluster } from 'ioredis';

export interface BucketSpec {
  /** Requests allowed per interval. */
  reservoir: number;
  intervalMs: number;
  maxConcurrent?: number;
  /** Spacing between request starts; smooths bursts. */
  minTimeMs?: number;
}

/** Marketplace OAuth app: 110 requests / 10 s per installing account; search: 5 req/s (§7.1). */
// HubSpot counts a *rolling* window, while Bottleneck's reservoir refills at fixed instants and would
// let two windows' worth through back to back. Spacing calls evenly (minTime) keeps every rolling
// window within budget, with a little headroom: 10,000 ms / 92 ms ≈ 108.7 calls per 10 s.
export const HUBSPOT_BUCKETS = {
  general: { reservoir: 110, intervalMs: 10_000, maxConcurrent: 10, minTimeMs: 92 },
  search: { reservoir: 5, intervalMs: 1_000, maxConcurrent: 3, minTimeMs: 210 },
} as const satisfies Record<string, BucketSpec>;

export type BucketName = keyof typeof HUBSPOT_BUCKETS;

/** Spacing of starts shared through Redis, relative to one process's (see makeBottleneck). */
export const CLUSTER_PACING = 1.04;

/**
 * The general bucket for a budget other than 110 per 10 s, paced the same way: starts spaced so that no
 * rolling window can hold more than `perTenSeconds - 1` calls.
 */
export function hubspotGeneralBucket(perTenSeconds: number): BucketSpec {
  return {
    ...HUBSPOT_BUCKETS.general,
    reservoir: perTenSeconds,
    minTimeMs: Math.ceil(10_000 / (perTenSeconds - 1)),
  };
}

export interface LimiterFactoryOptions {
  /** Namespace for Bottleneck ids / Redis keys, e.g. `hubspot`. */
  provider: string;
  buckets?: Partial<Record<BucketName, BucketSpec>>;
  /**
   * When set, the buckets are shared across processes through Redis (Bottleneck clustering). The
   * factory takes the client over: `disconnectAll` closes it (and the subscriber Bottleneck adds).
   */
  redis?: Redis | Cluster;
}

export interface PortalLimiter {
  schedule<T>(bucket: BucketName, fn: () => Promise<T>): Promise<T>;
  disconnect(): Promise<void>;
}

function makeBottleneck(
  id: string,
  spec: BucketSpec,
  connection: Bottleneck.IORedisConnection | undefined,
): Bottleneck {
  const base: Bottleneck.ConstructorOptions = {
    id,
    reservoir: spec.reservoir,
    reservoirRefreshAmount: spec.reservoir,
    reservoirRefreshInterval: spec.intervalMs,
    maxConcurrent: spec.maxConcurrent ?? null,
    minTime: spec.minTimeMs ?? 0,
  };
  if (connection === undefined) return new Bottleneck(base);
  // Bottleneck's `ioredis` datastore on the factory's one connection: one budget for all instances.
  // Redis grants each start on its own clock, but a busy process sends the request a little later, so
  // two instances' calls can reach HubSpot closer together than granted: keep a few calls of slack.
  const clustered: Bottleneck.ConstructorOptions = {
    ...base,
    minTime: Math.ceil((spec.minTimeMs ?? 0) * CLUSTER_PACING),
    datastore: 'ioredis',
    clearDatastore: false,
    timeout: 60_000,
  };
  (clustered as { connection?: unknown }).connection = connection;
  return new Bottleneck(clustered);
}

/** Creates limiters lazily, one set per portal (tenant), and keeps them for the process lifetime. */
export class LimiterFactory {
  private readonly portals = new Map<string, PortalLimiter>();
  // One connection (a client and one subscriber) for every limiter of the process; a connection per
  // limiter would open a subscriber per bucket and portal, and a limiter does not close a shared one.
  private readonly connection: Bottleneck.IORedisConnection | undefined;

  constructor(private readonly opts: LimiterFactoryOptions) {
    this.connection =
      opts.redis === undefined
        ? undefined
        : new Bottleneck.IORedisConnection({ client: opts.redis as never });
  }

  forPortal(portalId: string): PortalLimiter {
    const existing = this.portals.get(portalId);
    if (existing !== undefined) return existing;
    const buckets = new Map<BucketName, Bottleneck>();
    const get = (name: BucketName): Bottleneck => {
      let b = buckets.get(name);
      if (b === undefined) {
        const spec = this.opts.buckets?.[name] ?? HUBSPOT_BUCKETS[name];
        b = makeBottleneck(`${this.opts.provider}:${portalId}:${name}`, spec, this.connection);
        buckets.set(name, b);
      }
      return b;
    };
    const limiter: PortalLimiter = {
      schedule: (bucket, fn) => get(bucket).schedule(fn),
      disconnect: async () => {
        await Promise.all([...buckets.values()].map((b) => b.disconnect(false)));
      },
    };
    this.portals.set(portalId, limiter);
    return limiter;
  }

  async disconnectAll(): Promise<void> {
    await Promise.all([...this.portals.values()].map((l) => l.disconnect()));
    this.portals.clear();
    await this.connection?.disconnect(true);
  }
}
