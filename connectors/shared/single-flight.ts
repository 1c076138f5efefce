// A cache whose loads are single-flight: callers that miss the same key at the same moment share one
// load instead of each paying a CRM call for it. A loaded value is reused for `ttlMs`; a failed load is
// not kept, so the next caller tries again. Keys idle for long are evicted (IdleCache bounds).
import { IdleCache } from './idle-cache.js';

export interface SingleFlightOptions<V> {
  now: () => number;
  /** How long a loaded value is reused (default: for ever). */
  ttlMs?: number | undefined;
  /** Keys kept in memory: evicted after `idleMs` unused, least recently used beyond `maxEntries`. */
  idleMs?: number | undefined;
  maxEntries?: number | undefined;
  /** When a value was read from its source (default: when its load started). */
  loadedAt?: ((value: V) => number) | undefined;
}

export interface GetOptions<V> {
  /** The time freshness is judged at (default: `now()`): a caller working on one time line passes it. */
  now?: number | undefined;
  /** A fresh value that does not serve this caller is loaded again (a name missing from a list). */
  usable?: ((value: V) => boolean) | undefined;
}

export class SingleFlightCache<K, V> {
  private readonly values: IdleCache<K, { value: V; at: number }>;
  private readonly loads = new Map<K, Promise<V>>();
  private readonly ttlMs: number;

  constructor(private readonly opts: SingleFlightOptions<V>) {
    this.ttlMs = opts.ttlMs ?? Infinity;
    this.values = new IdleCache({
      idleMs: opts.idleMs ?? Infinity,
      maxEntries: opts.maxEntries ?? Number.MAX_SAFE_INTEGER,
      now: opts.now,
    });
  }

  /** The key's value while fresh and usable; else the load in flight, or a new one that others share. */
  async get(key: K, load: () => Promise<V>, options: GetOptions<V> = {}): Promise<V> {
    const now = options.now ?? this.opts.now();
    const held = this.values.get(key);
    if (held !== undefined && this.isFresh(held.at, now) && (options.usable?.(held.value) ?? true))
      return held.value;
    let loading = this.loads.get(key);
    if (loading === undefined) {
      loading = (async () => {
        const value = await load();
        this.values.set(key, { value, at: this.opts.loadedAt?.(value) ?? now });
        return value;
      })();
      this.loads.set(key, loading);
      void loading.finally(() => this.loads.delete(key)).catch(() => undefined);
    }
    return loading;
  }

  /** Keys held, fresh or not. */
  get size(): number {
    return this.values.size;
  }

  /** The key's value if one is held, fresh or not. */
  peek(key: K): V | undefined {
    return this.values.get(key)?.value;
  }

  /** Holds `value` as loaded now (or at its `loadedAt`), as if a load had returned it. */
  set(key: K, value: V): void {
    this.values.set(key, { value, at: this.opts.loadedAt?.(value) ?? this.opts.now() });
  }

  delete(key: K): void {
    this.values.delete(key);
  }

  /** Evicts idle keys; returns how many. */
  evict(): number {
    return this.values.evict();
  }

  /** Loaded at or before `now` (a value from a clock ahead of ours is not trusted), within the TTL. */
  isFresh(at: number, now: number): boolean {
    return at <= now && now - at < this.ttlMs;
  }
}
