// The per-portal budget shared by several app instances through a schedule in Redis, against
// the real Redis on the machine (test/support/services.ts: skipped with a reason, or failed under CI).
import { HUBSPOT_BUCKETS, hubspotGeneralBucket } from '../../../connectors/hubspot/profile.js';
import { Redis } from 'ioredis';
import {
  CLUSTER_JITTER_MS,
  LATE_WAKE_MS,
  LimiterFactory,
  sharedWindow,
} from '../../../connectors/shared/limiter.js';
import { describeNeeding, REDIS_URL, uniqueRedisPrefix } from '../../support/services.js';

const withRedis = describeNeeding(['redis']);

describe('sharedWindow', () => {
  it('stretches each HubSpot window by the jitter and keeps the budget and spacing', () => {
    expect(sharedWindow(HUBSPOT_BUCKETS.general)).toEqual({ budget: 110, windowMs: 10_200, minTimeMs: 92 });
    expect(sharedWindow(HUBSPOT_BUCKETS.search)).toEqual({ budget: 5, windowMs: 1_200, minTimeMs: 210 });
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
  it('two instances sharing Redis keep every window within the budget, on one schedule per portal', async () => {
    const provider = uniqueRedisPrefix();
    const spec = { general: { reservoir: 3, intervalMs: 5_000, maxConcurrent: 10, minTimeMs: 10 } };
    const { windowMs } = sharedWindow(spec.general);
    const [one, two] = [0, 1].map(
      () => new LimiterFactory({ provider, buckets: spec, redis: new Redis(REDIS_URL) }),
    ) as [LimiterFactory, LimiterFactory];
    const starts: number[] = [];
    const job = () => {
      starts.push(Date.now());
      return Promise.resolve();
    };
    const probe = new Redis(REDIS_URL);
    const began = Date.now();
    const done = Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? one : two).forPortal('p').schedule('general', job)),
    );
    // Once all six are reserved, the list holds the second three: each a window after one of the first
    // three, still packed minTime apart (even spacing would have spread them over the window).
    const startsKey = `${provider}:{p:general}:starts`;
    while ((await probe.llen(startsKey)) < 3 || starts.length < 3)
      await new Promise((r) => setTimeout(r, 20));
    await done;
    const second = (await probe.lrange(startsKey, 0, -1)).map(Number).sort((a, b) => a - b);
    expect(second).toHaveLength(3);
    for (let i = 1; i < 3; i++) expect(second[i]! - second[i - 1]!).toBeGreaterThanOrEqual(10);
    expect(second[2]! - second[0]!).toBeLessThan(2_000);
    // The fourth start waits for the first's window, however the two instances interleave (load only delays).
    expect(Math.max(...starts) - began).toBeGreaterThanOrEqual(windowMs - 2);

    // Another portal keeps its own schedule in Redis; a pause is a key of its own.
    await two.forPortal('q').schedule('general', job);
    await one.forPortal('q').pause('general', 1_000);
    const keys = (await probe.keys(`${provider}:*`)).sort();
    probe.disconnect();
    expect(keys).toEqual([
      `${provider}:{p:general}:starts`,
      `${provider}:{q:general}:paused-until`,
      `${provider}:{q:general}:starts`,
    ]);
    await Promise.all([one.disconnectAll(), two.disconnectAll()]);
  });

  it('a pause set by one instance holds back the next start of the other', async () => {
    const provider = uniqueRedisPrefix();
    const spec = { general: { reservoir: 100, intervalMs: 10_000, maxConcurrent: 10, minTimeMs: 1 } };
    const [one, two] = [0, 1].map(
      () => new LimiterFactory({ provider, buckets: spec, redis: new Redis(REDIS_URL) }),
    ) as [LimiterFactory, LimiterFactory];
    await one.forPortal('p').pause('general', 1_500);
    const began = Date.now();
    let startedAt = 0;
    await two.forPortal('p').schedule('general', () => {
      startedAt = Date.now();
      return Promise.resolve();
    });
    expect(startedAt - began).toBeGreaterThanOrEqual(1_400);
    await Promise.all([one.disconnectAll(), two.disconnectAll()]);
  });

  it('a call that wakes later than a quarter of the jitter after its slot gives the slot up and reserves another', async () => {
    const provider = uniqueRedisPrefix();
    const spec = { general: { reservoir: 100, intervalMs: 10_000, maxConcurrent: 10, minTimeMs: 300 } };
    const late: number[] = [];
    const limiters = new LimiterFactory({
      provider,
      buckets: spec,
      redis: new Redis(REDIS_URL),
      onLateSlot: (_portal, _bucket, ms) => late.push(ms),
    });
    const probe = new Redis(REDIS_URL);
    const startsKey = `${provider}:{p:general}:starts`;
    let ran = 0;
    const job = () => {
      ran += 1;
      return Promise.resolve();
    };
    const portal = limiters.forPortal('p');
    const calls = [portal.schedule('general', job), portal.schedule('general', job)];
    // Both slots reserved (the second 300 ms after the first); then the event loop is blocked past the
    // second slot plus the jitter, as on a loaded machine.
    while ((await probe.llen(startsKey)) < 2) await new Promise((r) => setTimeout(r, 5));
    const blockedUntil = Date.now() + 300 + CLUSTER_JITTER_MS + 200;
    while (Date.now() < blockedUntil) {
      /* busy */
    }
    await Promise.all(calls);
    expect(ran).toBe(2);
    expect(late.length).toBeGreaterThanOrEqual(1);
    expect(late[0]).toBeGreaterThan(LATE_WAKE_MS);
    // The given-up slot still counts against the window: three starts were reserved for two calls.
    expect(await probe.llen(startsKey)).toBe(2 + late.length);
    probe.disconnect();
    await limiters.disconnectAll();
  });
});
