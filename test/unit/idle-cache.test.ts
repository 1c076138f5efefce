// Per-tenant caches hold only what is in use: idle entries go, the least recently used go first beyond
// the bound, and an entry with work in flight stays. A manual clock; no timers.
import { HUBSPOT_BUCKETS } from '../../connectors/hubspot/profile.js';
import { IdleCache } from '../../connectors/shared/idle-cache.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';

function cache(options: { idleMs?: number; maxEntries?: number; busy?: Set<string> } = {}) {
  const clock = { now: 0 };
  const evicted: string[] = [];
  const c = new IdleCache<string, string>({
    idleMs: options.idleMs ?? 1_000,
    maxEntries: options.maxEntries ?? 10,
    now: () => clock.now,
    busy: (v) => options.busy?.has(v) ?? false,
    onEvict: (k) => evicted.push(k),
  });
  return { c, clock, evicted };
}

describe('IdleCache', () => {
  it('evicts entries idle for idleMs, keeping those used since', () => {
    const { c, clock, evicted } = cache();
    c.set('a', 'A');
    c.set('b', 'B');
    clock.now = 600;
    expect(c.get('a')).toBe('A');
    clock.now = 1_000;
    expect(c.evict()).toBe(1);
    expect(evicted).toEqual(['b']);
    expect(c.get('b')).toBeUndefined();
    clock.now = 1_599;
    expect(c.evict()).toBe(0);
    clock.now = 1_600;
    expect(c.evict()).toBe(1);
    expect(c.size).toBe(0);
  });

  it('beyond maxEntries evicts the least recently used first', () => {
    const { c, evicted } = cache({ maxEntries: 2 });
    c.set('a', 'A');
    c.set('b', 'B');
    c.get('a');
    c.set('c', 'C');
    expect(evicted).toEqual(['b']);
    expect([c.get('a'), c.get('c')]).toEqual(['A', 'C']);
  });

  it('never evicts an entry with work in flight; the bound is exceeded until it settles', () => {
    const busy = new Set(['A']);
    const { c, clock, evicted } = cache({ maxEntries: 1, busy });
    c.set('a', 'A');
    c.set('b', 'B');
    expect(evicted).toEqual([]);
    clock.now = 5_000;
    expect(c.evict()).toBe(1);
    expect(evicted).toEqual(['b']);
    busy.clear();
    expect(c.evict()).toBe(1);
    expect(c.size).toBe(0);
  });

  it('replacing a value evicts the old one; clear evicts all', () => {
    const { c, evicted } = cache();
    c.set('a', 'A1');
    c.set('a', 'A2');
    c.set('b', 'B');
    expect(evicted).toEqual(['a']);
    c.clear();
    expect(evicted).toEqual(['a', 'a', 'b']);
  });

  it('rejects bounds that are not positive', () => {
    expect(() => new IdleCache({ idleMs: 0, maxEntries: 1, now: () => 0 })).toThrow(RangeError);
    expect(() => new IdleCache({ idleMs: 1, maxEntries: 0, now: () => 0 })).toThrow(RangeError);
  });
});

describe('LimiterFactory.release', () => {
  it('is busy while a call runs, and after release gives a fresh limiter that still schedules', async () => {
    const factory = new LimiterFactory({ provider: 'idle-cache-test', buckets: HUBSPOT_BUCKETS });
    const limiter = factory.forPortal('1');
    let finish: (() => void) | undefined;
    const running = limiter.schedule('general', () => new Promise<void>((r) => (finish = r)));
    expect(factory.busy('1')).toBe(true);
    while (finish === undefined) await new Promise((r) => setTimeout(r, 5));
    expect(factory.busy('1')).toBe(true);
    finish();
    await running;
    expect(factory.busy('1')).toBe(false);
    expect(factory.size).toBe(1);
    await factory.release('1');
    expect(factory.size).toBe(0);
    // A holder of the released limiter is not stranded on stopped buckets.
    await expect(limiter.schedule('general', () => Promise.resolve(7))).resolves.toBe(7);
    expect(factory.forPortal('1')).not.toBe(limiter);
    await factory.disconnectAll();
    await limiter.disconnect();
  });
});
