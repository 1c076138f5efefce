// Our own per-portal rate limiters (Bottleneck), built from the buckets a connector's profile declares,
// NOT a client library's own limiter (@hubspot/api-client keeps its limiter in a process-wide singleton
// that the last constructed Client overwrites, hubspot.md §7.3): connectors schedule every call here.
import Bottleneck from 'bottleneck';
import type { Redis, Cluster } from 'ioredis';
import type { BucketSpec } from '../connector.js';

export type { BucketSpec } from '../connector.js';

/** A bucket's name, as the connector that declared it spells it ('general', 'search'). */
export type BucketName = string;

/**
 * How much later than planned a call may reach the CRM. Redis hands out start times, but a process with
 * a loaded event loop wakes a little after its slot and then still has to build and send the request, so
 * two instances' calls could reach the CRM closer together than planned: the shared schedule stretches
 * every window by this much. Paid on every window, so kept small: on search's 1 s window 300 ms cost a
 * quarter of the budget; 100 ms still let a loaded machine's calls through two at a time now and then.
 */
export const CLUSTER_JITTER_MS = 200;

/**
 * A call that wakes later than this after its slot gives the slot up and reserves another (see
 * `SLOT_RETRIES`): a quarter of the jitter, so three quarters are left for building and sending the
 * request and for the network, where the CRM counts it. An idle process wakes within a few milliseconds,
 * so this costs nothing until the process is loaded; at half the jitter a loaded machine still drew an
 * occasional per-second 429 on search (5 calls a second leave the least room).
 */
export const LATE_WAKE_MS = CLUSTER_JITTER_MS / 4;

/** How often a call that woke too late reserves again before it goes anyway (a 429 then pauses it). */
const SLOT_RETRIES = 3;

/**
 * The shared schedule's rule for a bucket: at most `budget` starts in any window of `windowMs` (the
 * bucket's interval stretched by the jitter), each at least `minTimeMs` after the previous one. A rolling
 * count rather than even spacing: even spacing spreads `budget - 1` gaps over the stretched window.
 */
export function sharedWindow(spec: BucketSpec): { budget: number; windowMs: number; minTimeMs: number } {
  return {
    budget: spec.reservoir,
    windowMs: spec.intervalMs + CLUSTER_JITTER_MS,
    minTimeMs: spec.minTimeMs ?? 0,
  };
}

export interface LimiterFactoryOptions {
  /** Namespace for Bottleneck ids / Redis keys, e.g. `hubspot`. */
  provider: string;
  /** Every bucket a call may be scheduled in: the connector profile's `buckets`, possibly tuned. */
  buckets: Readonly<Record<BucketName, BucketSpec>>;
  /**
   * When set, every instance of the app paces its calls on one schedule kept in Redis, so together they
   * stay inside each portal's budget. The factory takes the client over: `disconnectAll` closes it.
   */
  redis?: Redis | Cluster;
  /** Told how every scheduled call ended (metrics); `error` is what the call threw, if it did. */
  observe?: (portalId: string, bucket: BucketName, error: unknown) => void;
  /** Told when a call woke `lateMs` after its shared slot and reserved another (a loaded process). */
  onLateSlot?: (portalId: string, bucket: BucketName, lateMs: number) => void;
}

export interface PortalLimiter {
  schedule<T>(bucket: BucketName, fn: () => Promise<T>): Promise<T>;
  /**
   * No call of the portal in `bucket` starts within `ms` from now, in any lane, nor (through Redis) in
   * any process: the portal answered 429, so its window is closed for everyone. Calls already waiting
   * start after it, spaced as usual.
   */
  pause(bucket: BucketName, ms: number): Promise<void>;
  disconnect(): Promise<void>;
}

// Reserves the next start in a bucket on Redis's clock and returns how long the caller waits for it: the
// latest of now, a pause a 429 set (KEYS[2]), the previous start plus the spacing, and the start `budget`
// places back plus the window (KEYS[1] keeps the last `budget` starts, newest first). One atomic step:
// nothing is held between calls, so a process killed mid-call leaves no lock or count behind.
// (Bottleneck's own Redis clustering keeps per-client running counts and hung for good after workers
// were killed with SIGKILL in our crash test, as reported upstream in SGrondin/bottleneck#194.)
const RESERVE_START = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local budget = tonumber(ARGV[1])
local start = math.max(now, tonumber(redis.call('GET', KEYS[2]) or '0'))
local last = redis.call('LINDEX', KEYS[1], 0)
if last then start = math.max(start, tonumber(last) + tonumber(ARGV[3])) end
local oldest = redis.call('LINDEX', KEYS[1], budget - 1)
if oldest then start = math.max(start, tonumber(oldest) + tonumber(ARGV[2]) + 1) end
redis.call('LPUSH', KEYS[1], start)
redis.call('LTRIM', KEYS[1], 0, budget - 1)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return start - now
`;

// Closes the bucket for `ms` from now (on Redis's clock), so every process's next reservation lands
// after the window a 429 closed.
const PUSH_BACK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local resume = now + tonumber(ARGV[1])
if resume > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], resume, 'PX', tonumber(ARGV[2]))
end
return resume - now
`;

type ReservingRedis = (Redis | Cluster) & {
  leadRouterReserveStart(
    startsKey: string,
    pauseKey: string,
    budget: number,
    windowMs: number,
    minTimeMs: number,
    keepMs: number,
  ): Promise<number>;
  leadRouterPushBack(key: string, ms: number, keepMs: number): Promise<number>;
};

/** The in-process twin of the Redis schedule: the next start per bucket, for one process alone. */
class LocalStarts {
  private readonly next = new Map<BucketName, number>();

  /** The wait before the next start, spaced `spacingMs` after the previous one and after any pause. */
  reserve(bucket: BucketName, spacingMs: number): number {
    const now = Date.now();
    const start = Math.max(now, this.next.get(bucket) ?? 0);
    this.next.set(bucket, start + spacingMs);
    return start - now;
  }

  pushBack(bucket: BucketName, ms: number): void {
    this.next.set(bucket, Math.max(this.next.get(bucket) ?? 0, Date.now() + ms));
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function localBottleneck(spec: BucketSpec, shared: boolean): Bottleneck {
  // Shared pacing happens in Redis; locally only the concurrency cap applies then.
  if (shared) return new Bottleneck({ maxConcurrent: spec.maxConcurrent ?? null });
  return new Bottleneck({
    reservoir: spec.reservoir,
    reservoirRefreshAmount: spec.reservoir,
    reservoirRefreshInterval: spec.intervalMs,
    maxConcurrent: spec.maxConcurrent ?? null,
    minTime: spec.minTimeMs ?? 0,
  });
}

/**
 * Creates limiters lazily, one set per portal (tenant), and keeps each until it is released (its tenant
 * went idle): a released portal's next call starts a fresh limiter.
 */
export class LimiterFactory {
  private readonly portals = new Map<
    string,
    { limiter: PortalLimiter; buckets: Map<BucketName, Bottleneck> }
  >();
  private readonly redis: ReservingRedis | undefined;

  constructor(private readonly opts: LimiterFactoryOptions) {
    if (opts.redis !== undefined) {
      opts.redis.defineCommand('leadRouterReserveStart', { numberOfKeys: 2, lua: RESERVE_START });
      opts.redis.defineCommand('leadRouterPushBack', { numberOfKeys: 1, lua: PUSH_BACK });
      this.redis = opts.redis as ReservingRedis;
    }
  }

  forPortal(portalId: string): PortalLimiter {
    const existing = this.portals.get(portalId);
    if (existing !== undefined) return existing.limiter;
    const buckets = new Map<BucketName, Bottleneck>();
    const spec = (name: BucketName): BucketSpec => {
      const declared = this.opts.buckets[name];
      // A connector scheduling in a bucket its profile does not declare is a bug, not a budget.
      if (declared === undefined) throw new Error(`no rate-limit bucket '${name}' was declared`);
      return declared;
    };
    const get = (name: BucketName): Bottleneck => {
      let b = buckets.get(name);
      if (b === undefined) {
        b = localBottleneck(spec(name), this.redis !== undefined);
        buckets.set(name, b);
      }
      return b;
    };
    const redis = this.redis;
    const observe = this.opts.observe;
    const onLateSlot = this.opts.onLateSlot;
    const observed = <T>(bucket: BucketName, fn: () => Promise<T>) =>
      observe === undefined
        ? fn
        : async (): Promise<T> => {
            try {
              const value = await fn();
              observe(portalId, bucket, undefined);
              return value;
            } catch (error) {
              observe(portalId, bucket, error);
              throw error;
            }
          };
    // One hash slot per portal and bucket ({…}), so the script's two keys live together in a Redis Cluster.
    const key = (bucket: BucketName, what: 'starts' | 'paused-until'): string =>
      `${this.opts.provider}:{${portalId}:${bucket}}:${what}`;
    const keepMs = (bucket: BucketName): number => Math.max(60_000, spec(bucket).intervalMs * 6);
    const local = new LocalStarts();
    const reserveShared = (redis: ReservingRedis, bucket: BucketName): Promise<number> => {
      const w = sharedWindow(spec(bucket));
      return redis.leadRouterReserveStart(
        key(bucket, 'starts'),
        key(bucket, 'paused-until'),
        w.budget,
        w.windowMs,
        w.minTimeMs,
        keepMs(bucket),
      );
    };
    const limiter: PortalLimiter = {
      schedule: (bucket, call) => {
        const fn = observed(bucket, call);
        return get(bucket).schedule(async () => {
          if (redis === undefined) {
            const wait = local.reserve(bucket, spec(bucket).minTimeMs ?? 0);
            if (wait > 0) await sleep(wait);
            return fn();
          }
          for (let retry = 0; ; retry++) {
            // Measured from before asking, so a reply read late counts as lateness too.
            const asked = Date.now();
            const slot = asked + (await reserveShared(redis, bucket));
            const wait = slot - Date.now();
            if (wait > 0) await sleep(wait);
            const late = Date.now() - slot;
            if (late <= LATE_WAKE_MS || retry === SLOT_RETRIES) return fn();
            onLateSlot?.(portalId, bucket, late);
          }
        });
      },
      pause: async (bucket, ms) => {
        if (redis === undefined) local.pushBack(bucket, ms);
        else await redis.leadRouterPushBack(key(bucket, 'paused-until'), ms, Math.max(keepMs(bucket), ms));
      },
      disconnect: async () => {
        await Promise.all([...buckets.values()].map((b) => b.disconnect(false)));
      },
    };
    this.portals.set(portalId, { limiter, buckets });
    return limiter;
  }

  /** True while the portal has calls queued or running in this process. */
  busy(portalId: string): boolean {
    const portal = this.portals.get(portalId);
    if (portal === undefined) return false;
    for (const b of portal.buckets.values()) {
      const c = b.counts();
      if (c.RECEIVED + c.QUEUED + c.RUNNING + c.EXECUTING > 0) return true;
    }
    return false;
  }

  /**
   * Forgets the portal's limiter (its tenant is idle) and stops its buckets. Its pacing state goes with
   * it, which is safe once the portal has made no call for a rate window: the next call would not have
   * waited anyway. A caller still holding the old limiter gets fresh buckets on its next call, never a
   * stopped one.
   */
  async release(portalId: string): Promise<void> {
    const portal = this.portals.get(portalId);
    if (portal === undefined) return;
    this.portals.delete(portalId);
    const buckets = [...portal.buckets.values()];
    portal.buckets.clear();
    await Promise.all(buckets.map((b) => b.disconnect(false)));
  }

  /** Portals with a limiter held in this process. */
  get size(): number {
    return this.portals.size;
  }

  async disconnectAll(): Promise<void> {
    await Promise.all([...this.portals.values()].map((p) => p.limiter.disconnect()));
    this.portals.clear();
    await this.redis?.quit();
  }
}
