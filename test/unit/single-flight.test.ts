// The single-flight TTL cache: concurrent misses share one load, a value is reused for its TTL (judged
// from when it was read at its source), a failed load is not kept, and a value that does not serve a
// caller is loaded again. A manual clock; loads are promises the test settles itself.
import { SingleFlightCache } from '../../connectors/shared/single-flight.js';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup(options: { ttlMs?: number; loadedAt?: (v: { v: string; at?: number }) => number } = {}) {
  const clock = { now: 1_000 };
  const cache = new SingleFlightCache<string, { v: string; at?: number }>({
    now: () => clock.now,
    ttlMs: options.ttlMs,
    loadedAt: options.loadedAt,
  });
  let loads = 0;
  const load = (v: string, at?: number) => (): Promise<{ v: string; at?: number }> => {
    loads += 1;
    return Promise.resolve(at === undefined ? { v } : { v, at });
  };
  return { clock, cache, load, loads: () => loads };
}

describe('SingleFlightCache', () => {
  it('callers missing the same key at once share one load', async () => {
    const { cache } = setup();
    const pending = deferred<{ v: string }>();
    let loads = 0;
    const load = (): Promise<{ v: string }> => {
      loads += 1;
      return pending.promise;
    };
    const all = Promise.all([cache.get('t', load), cache.get('t', load), cache.get('t', load)]);
    pending.resolve({ v: 'A' });
    expect((await all).map((x) => x.v)).toEqual(['A', 'A', 'A']);
    expect(loads).toBe(1);
    // Other keys load on their own.
    let other = 0;
    await cache.get('u', () => {
      other += 1;
      return Promise.resolve({ v: 'B' });
    });
    expect(other).toBe(1);
  });

  it('reuses a value for its TTL, then loads again', async () => {
    const { clock, cache, load, loads } = setup({ ttlMs: 100 });
    expect((await cache.get('t', load('A'))).v).toBe('A');
    clock.now += 99;
    expect((await cache.get('t', load('B'))).v).toBe('A');
    clock.now += 1;
    expect((await cache.get('t', load('B'))).v).toBe('B');
    expect(loads()).toBe(2);
  });

  it('judges age from when the value was read at its source, and distrusts a time ahead of the caller', async () => {
    const { cache, load, loads } = setup({ ttlMs: 100, loadedAt: (x) => x.at ?? 0 });
    await cache.get('t', load('old', 500), { now: 1_000 });
    // Read 500 ms before: stale at once.
    expect((await cache.get('t', load('new', 1_000), { now: 1_000 })).v).toBe('new');
    // A caller whose time is before the value's is not served it.
    expect((await cache.get('t', load('earlier', 900), { now: 950 })).v).toBe('earlier');
    expect(loads()).toBe(3);
  });

  it('keeps no failed load: the next caller loads again', async () => {
    const { cache, load, loads } = setup();
    await expect(cache.get('t', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(cache.peek('t')).toBeUndefined();
    expect((await cache.get('t', load('A'))).v).toBe('A');
    expect(loads()).toBe(1);
  });

  it('loads again when a fresh value does not serve the caller', async () => {
    const { cache, load, loads } = setup();
    await cache.get('t', load('A'));
    expect((await cache.get('t', load('B'), { usable: (x) => x.v === 'A' })).v).toBe('A');
    expect((await cache.get('t', load('B'), { usable: (x) => x.v === 'B' })).v).toBe('B');
    expect(loads()).toBe(2);
  });

  it('forgets a deleted key', async () => {
    const { cache, load } = setup();
    await cache.get('t', load('A'));
    cache.delete('t');
    expect((await cache.get('t', load('B'))).v).toBe('B');
  });
});
