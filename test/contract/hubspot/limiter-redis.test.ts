// The per-portal budget shared by several app instances through a schedule in Redis, against
// the real Redis on the machine (test/support/services.ts: skipped with a reason, or failed under CI).
import { Redis } from 'ioredis';
import {
  HUBSPOT_BUCKETS,
  hubspotGeneralBucket,
  LimiterFactory,
  sharedSpacingMs,
} from '../../../connectors/shared/limiter.js';
import { describeNeeding, REDIS_URL, uniqueRedisPrefix } from '../../support/services.js';

const withRedis = describeNeeding(['redis']);

describe('sharedSpacingMs', () => {
  it('leaves room for late senders in every window of both HubSpot buckets', () => {
    for (const spec of [HUBSPOT_BUCKETS.general, HUBSPOT_BUCKETS.search, hubspotGeneralBucket(1000)]) {
      const spacing = sharedSpacingMs(spec);
      // Starts in any window stretched by the jitter: floor((interval + jitter) / spacing) + 1.
      expect(Math.floor((spec.intervalMs + 300) / spacing) + 1).toBeLessThanOrEqual(spec.reservoir);
    }
    expect(sharedSpacingMs(HUBSPOT_BUCKETS.general)).toBe(95);
    expect(sharedSpacingMs(HUBSPOT_BUCKETS.search)).toBe(325);
  });
});

describe('hubspotGeneralBucket', () => {
  it('paces 110 per 10 s exactly as the default HubSpot bucket', () => {
    expect(hubspotGeneralBucket(110)).toEqual(HUBSPOT_BUCKETS.general);
  });

  it('spaces starts so that no rolling 10 s window can exceed the budget', () => {
    for (const budget of [2, 50, 110, 190, 1000]) {
      const { minTimeMs = 0 } = hubspotGeneralBucket(budget);
      // Starts at t, t+minTime, …: a window of 10 s holds floor(10000 / minTime) + 1 of them.
      expect(Math.floor(10_000 / minTimeMs) + 1).toBeLessThanOrEqual(budget);
    }
  });
});

withRedis('LimiterFactory over Redis', () => {
  it('two instances sharing Redis space their starts on one schedule per portal', async () => {
    const provider = uniqueRedisPrefix();
    const spacing = 40;
    const spec = { general: { reservoir: 1000, intervalMs: 10_000, maxConcurrent: 10, minTimeMs: spacing } };
    const [one, two] = [0, 1].map(
      () => new LimiterFactory({ provider, buckets: spec, redis: new Redis(REDIS_URL) }),
    ) as [LimiterFactory, LimiterFactory];
    const starts: number[] = [];
    const job = () => {
      starts.push(Date.now());
      return Promise.resolve();
    };
    const began = Date.now();
    const jobs = 12;
    await Promise.all(
      Array.from({ length: jobs }, (_, i) =>
        (i % 2 === 0 ? one : two).forPortal('p').schedule('general', job),
      ),
    );
    // Slots are handed out at least the shared spacing apart from the first reservation on, so the last
    // job cannot start before that, however the two instances interleave (load only delays).
    const planned = (jobs - 1) * sharedSpacingMs(spec.general);
    expect(Math.max(...starts) - began).toBeGreaterThanOrEqual(planned - 2);

    // Another portal keeps its own schedule in Redis.
    await two.forPortal('q').schedule('general', job);
    const probe = new Redis(REDIS_URL);
    const keys = (await probe.keys(`${provider}:*`)).sort();
    probe.disconnect();
    expect(keys).toEqual([`${provider}:p:general:next-start`, `${provider}:q:general:next-start`]);
    await Promise.all([one.disconnectAll(), two.disconnectAll()]);
  });
});
