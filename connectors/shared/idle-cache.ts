// A per-tenant cache that holds only what is in use: an entry not used for `idleMs` is evicted, and
// beyond `maxEntries` the least recently used goes first, so a deployment with 1,000 installed portals
// holds memory for the active ones only. An entry still busy (a limiter with calls queued) is never
// evicted; the bound is then exceeded until it settles. The Map's order is the recency order (an entry
// is moved to the end when used), so a sweep stops at the first entry used recently.
export interface IdleCacheOptions<K, V> {
  idleMs: number;
  maxEntries: number;
  now: () => number;
  /** True while the value must stay (work in flight on it). */
  busy?: (value: V) => boolean;
  /** Told of each eviction (to release what the value holds). */
  onEvict?: (key: K, value: V) => void;
}

export class IdleCache<K, V> {
  private readonly entries = new Map<K, { value: V; usedAt: number }>();

  constructor(private readonly opts: IdleCacheOptions<K, V>) {
    if (!(opts.idleMs > 0) || !Number.isInteger(opts.maxEntries) || opts.maxEntries <= 0)
      throw new RangeError('IdleCache needs idleMs > 0 and an integer maxEntries > 0');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The values held, least recently used first (not marked used). */
  values(): IterableIterator<V> {
    return [...this.entries.values()].map((e) => e.value).values();
  }

  /** The value, marked used now; undefined when absent. */
  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    entry.usedAt = this.opts.now();
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: K, value: V): void {
    const old = this.entries.get(key);
    this.entries.delete(key);
    if (old !== undefined && old.value !== value) this.opts.onEvict?.(key, old.value);
    this.entries.set(key, { value, usedAt: this.opts.now() });
    this.evict(key);
  }

  delete(key: K): void {
    const old = this.entries.get(key);
    if (old === undefined) return;
    this.entries.delete(key);
    this.opts.onEvict?.(key, old.value);
  }

  /**
   * Evicts entries idle for `idleMs`, then the least recently used beyond `maxEntries` (never `keep`, the
   * entry being added); returns how many.
   */
  evict(keep?: K): number {
    const now = this.opts.now();
    let evicted = 0;
    let over = this.entries.size - this.opts.maxEntries;
    for (const [key, entry] of this.entries) {
      const idle = now - entry.usedAt >= this.opts.idleMs;
      if (!idle && over <= 0) break;
      if (key === keep || this.opts.busy?.(entry.value) === true) continue;
      this.entries.delete(key);
      this.opts.onEvict?.(key, entry.value);
      evicted += 1;
      over -= 1;
    }
    return evicted;
  }

  clear(): void {
    for (const [key, entry] of [...this.entries]) {
      this.entries.delete(key);
      this.opts.onEvict?.(key, entry.value);
    }
  }
}
