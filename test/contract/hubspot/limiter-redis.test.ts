// The per-portal budget shared by several app instances through Redis (Bottleneck clustering), against
// the real Redis on the machine; skipped with a printed reason when it is not reachable.
import { Redis } from 'ioredis';
import { HUBSPOT_BUCKETS, hubspotGeneralBucket, LimiterFactory } from '../../../connectors/shared/limiter.js';
import { REDIS_URL, redisUnavailable, uniqueRedisPrefix } from '../../support/services.js';

if (redisUnavailable !== null)
  console.warn(`Redis limiter tests skipped: ${REDIS_URL} unreachable (${redisUnavailable})`);
const withRedis = redisUnavailable === null ? describe : describe.skip;

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  const clients: Redis[] = [];
  afterAll(() => {
    for (const c of clients) c.disconnect();
  });

  it('two instances sharing Redis draw from one reservoir per portal', async () => {
    const provider = uniqueRedisPrefix();
    const spec = { general: { reservoir: 5, intervalMs: 3_600_000 } };
    const instance = () => {
      const redis = new Redis(REDIS_URL);
      clients.push(redis);
      return new LimiterFactory({ provider, buckets: spec, redis });
    };
    const [one, two] = [instance(), instance()];
    let ran = 0;
    const job = () => {
      ran += 1;
      return Promise.resolve();
    };
    for (let i = 0; i < 4; i++) {
      void one.forPortal('p').schedule('general', job);
      void two.forPortal('p').schedule('general', job);
    }
    // Another portal has a budget of its own, even on the same Redis.
    await two.forPortal('q').schedule('general', job);
    while (ran < 6) await settle(20);
    await settle(300);
    expect(ran).toBe(6);
    await Promise.all([one.disconnectAll(), two.disconnectAll()]);
  });
});
