// The org's daily API allocation (salesforce.md §5): a rolling 24-hour count of API requests, reported
// on every answer as `Sforce-Limit-Info: api-usage=N/M`; once spent, requests get 403
// REQUEST_LIMIT_EXCEEDED until old hours roll out of the window. Counted per hour to stay cheap.
import type { Clock } from '../sandbox-kit/clock.js';

const HOUR = 3_600_000;

export class ApiAllocation {
  private readonly hours = new Map<string, Map<number, number>>();

  constructor(
    private readonly clock: Clock,
    /** Requests per rolling 24 hours (an Enterprise org's base is 100,000). */
    public daily: number,
  ) {}

  used(orgId: string): number {
    const buckets = this.hours.get(orgId);
    if (buckets === undefined) return 0;
    const from = Math.floor(this.clock.now() / HOUR) - 23;
    let total = 0;
    for (const [hour, n] of buckets) {
      if (hour < from) buckets.delete(hour);
      else total += n;
    }
    return total;
  }

  /** Counts one request when the allocation allows it; the usage to report either way. */
  consume(orgId: string): { allowed: boolean; used: number; limit: number } {
    const used = this.used(orgId);
    if (used >= this.daily) return { allowed: false, used, limit: this.daily };
    const hour = Math.floor(this.clock.now() / HOUR);
    let buckets = this.hours.get(orgId);
    if (buckets === undefined) {
      buckets = new Map();
      this.hours.set(orgId, buckets);
    }
    buckets.set(hour, (buckets.get(hour) ?? 0) + 1);
    return { allowed: true, used: used + 1, limit: this.daily };
  }

  /** Sets an org's usage as if `n` requests had been made this hour (a test starting near the limit). */
  setUsed(orgId: string, n: number): void {
    this.hours.set(orgId, new Map([[Math.floor(this.clock.now() / HOUR), n]]));
  }

  header(orgId: string): string {
    return `api-usage=${this.used(orgId)}/${this.daily}`;
  }

  reset(): void {
    this.hours.clear();
  }
}
