// Live lookups shared while they are in flight, per tenant: a batch asking for keys that another batch's
// call is fetching right now joins that call, and asks for the rest in one call of its own. Nothing is
// kept once a call is answered, so no answer is older than a call made while the batch was waiting; a
// burst's batches, which meet the same company domains, then stop paying one CRM call each for them.
export type BatchLookup<K, V> = (keys: K[]) => Promise<Map<K, V>>;

export class InFlightLookups<K, V> {
  private readonly tenants = new Map<string, Map<K, Promise<V | undefined>>>();

  /** `lookup` for the tenant, joining the calls in flight for the same keys. */
  joined(tenantId: string, lookup: BatchLookup<K, V>): BatchLookup<K, V> {
    return async (keys) => {
      let flying = this.tenants.get(tenantId);
      if (flying === undefined) {
        flying = new Map();
        this.tenants.set(tenantId, flying);
      }
      const answers = this.join(tenantId, flying, keys, lookup);
      const values = await Promise.all(answers);
      const out = new Map<K, V>();
      for (const [k, key] of keys.entries()) {
        const value = values[k];
        if (value !== undefined) out.set(key, value);
      }
      return out;
    };
  }

  /** Calls in flight for the tenant (keys being fetched), for tests. */
  inFlight(tenantId: string): number {
    return this.tenants.get(tenantId)?.size ?? 0;
  }

  private join(
    tenantId: string,
    flying: Map<K, Promise<V | undefined>>,
    keys: readonly K[],
    lookup: BatchLookup<K, V>,
  ): Promise<V | undefined>[] {
    const missed = [...new Set(keys.filter((key) => !flying.has(key)))];
    if (missed.length > 0) {
      const call = lookup(missed);
      for (const key of missed) {
        const answer = call.then((found) => found.get(key));
        flying.set(key, answer);
        // Forgotten once answered (or failed: the next batch asks again).
        const forget = (): void => {
          if (flying.get(key) === answer) flying.delete(key);
          if (flying.size === 0 && this.tenants.get(tenantId) === flying) this.tenants.delete(tenantId);
        };
        answer.then(forget, forget);
      }
    }
    return keys.map((key) => flying.get(key) as Promise<V | undefined>);
  }
}
