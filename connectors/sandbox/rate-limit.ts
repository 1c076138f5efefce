// Per-portal rolling windows (hubspot.md §7.1): 110 / 10 s for a marketplace app, search 5 / s apart.
import type { Clock } from '../sandbox-kit/clock.js';

export type RatePolicy = 'TEN_SECONDLY_ROLLING' | 'SECONDLY' | 'DAILY';

export interface RateLimitOptions {
  /** Requests per rolling window per portal (default 110). */
  max: number;
  windowMs: number;
  /** Search requests per second per portal (default 5). */
  searchPerSecond: number;
  /** Optional daily cap per portal; none by default (OAuth apps have no documented daily cap). */
  daily?: number | undefined;
}

export const DEFAULT_RATE_LIMITS: RateLimitOptions = { max: 110, windowMs: 10_000, searchPerSecond: 5 };

/** HubSpot's messages; the secondly one is the constant @hubspot/api-client matches to retry. */
export const RATE_LIMIT_MESSAGES: Record<RatePolicy, string> = {
  // UNCONFIRMED exact burst wording (hubspot.md §7.1); the policyName is what clients act on.
  TEN_SECONDLY_ROLLING: 'You have reached your ten_secondly_rolling limit.',
  SECONDLY: 'You have reached your secondly limit.',
  DAILY: 'You have reached your daily limit.',
};

export interface RateDecision {
  allowed: boolean;
  policy?: RatePolicy;
  /** Window headers for non-search responses. */
  headers: Record<string, string>;
}

class Window {
  private hits: number[] = [];
  constructor(
    readonly max: number,
    readonly ms: number,
  ) {}
  prune(now: number): void {
    while (this.hits.length > 0 && (this.hits[0] ?? 0) <= now - this.ms) this.hits.shift();
  }
  remaining(now: number): number {
    this.prune(now);
    return Math.max(0, this.max - this.hits.length);
  }
  take(now: number): void {
    this.hits.push(now);
  }
}

export class RateLimiter {
  private burst = new Map<number, Window>();
  private search = new Map<number, Window>();
  private daily = new Map<number, { day: number; count: number }>();

  constructor(
    private options: RateLimitOptions,
    private readonly clock: Clock,
  ) {}

  configure(options: Partial<RateLimitOptions>): void {
    this.options = { ...this.options, ...options };
    this.reset();
  }

  reset(): void {
    this.burst.clear();
    this.search.clear();
    this.daily.clear();
  }

  private windowFor(map: Map<number, Window>, portalId: number, max: number, ms: number): Window {
    let w = map.get(portalId);
    if (w === undefined) {
      w = new Window(max, ms);
      map.set(portalId, w);
    }
    return w;
  }

  /** Counts the request if allowed; a rejected request does not consume budget. */
  check(portalId: number, isSearch: boolean): RateDecision {
    const now = this.clock.now();
    const o = this.options;
    if (o.daily !== undefined) {
      const day = Math.floor(now / 86_400_000);
      const d = this.daily.get(portalId);
      const count = d?.day === day ? d.count : 0;
      if (count >= o.daily) return { allowed: false, policy: 'DAILY', headers: {} };
      this.daily.set(portalId, { day, count: count + 1 });
    }
    if (isSearch) {
      // Search is exempt from the ten-secondly bucket and carries no rate-limit headers.
      const w = this.windowFor(this.search, portalId, o.searchPerSecond, 1000);
      if (w.remaining(now) === 0) return { allowed: false, policy: 'SECONDLY', headers: {} };
      w.take(now);
      return { allowed: true, headers: {} };
    }
    const w = this.windowFor(this.burst, portalId, o.max, o.windowMs);
    const allowed = w.remaining(now) > 0;
    if (allowed) w.take(now);
    const headers = {
      'X-HubSpot-RateLimit-Interval-Milliseconds': String(o.windowMs),
      'X-HubSpot-RateLimit-Max': String(o.max),
      'X-HubSpot-RateLimit-Remaining': String(w.remaining(now)),
    };
    return allowed ? { allowed, headers } : { allowed, policy: 'TEN_SECONDLY_ROLLING', headers };
  }
}
