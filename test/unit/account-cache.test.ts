// Bulk jobs' account lookups: a job's later lookups are answered from memory for the TTL (a domain with
// no account too), the misses of a lookup go to the CRM in one call that concurrent lookups share, a
// failed call keeps nothing, each job has its own answers, and idle tenants are let go. A manual clock;
// the CRM is a function that counts its calls.
import type { Account } from '../../src/core/types.js';
import { AccountCache } from '../../src/pipeline/account-cache.js';
import type { AccountSource } from '../../src/pipeline/lead-inputs.js';

const account = (id: string, domain: string, owner = 'nina@acme.io'): Account => ({
  id,
  name: id,
  domains: [domain],
  owner,
});

function setup(ttlMs = 60_000) {
  const clock = { now: 1_000 };
  const cache = new AccountCache({ clock: () => clock.now, ttlMs, tenantIdleMs: 600_000, maxTenants: 2 });
  const calls: string[][] = [];
  let owner = 'nina@acme.io';
  let failing = false;
  const crm: AccountSource = async (domains) => {
    calls.push([...domains]);
    await Promise.resolve();
    if (failing) throw new Error('search failed');
    return new Map(
      domains.filter((d) => d.startsWith('acme')).map((d) => [d, [account(`co-${d}`, d, owner)]]),
    );
  };
  return {
    clock,
    cache,
    calls,
    crm,
    setOwner: (o: string) => (owner = o),
    fail: (f: boolean) => (failing = f),
  };
}

const ownersOf = (answer: Map<string, Account[]>): Record<string, string[]> =>
  Object.fromEntries([...answer].map(([d, list]) => [d, list.map((a) => a.owner ?? '')]));

describe('AccountCache', () => {
  it('answers a job’s domains from memory for the TTL, a domain without an account included', async () => {
    const t = setup();
    const lookup = (): Promise<Map<string, Account[]>> =>
      t.cache.source('t1', 'bulk:1', t.crm, t.clock.now)(['acme.io', 'nobody.io']);
    expect(ownersOf(await lookup())).toEqual({ 'acme.io': ['nina@acme.io'], 'nobody.io': [] });
    t.setOwner('omar@acme.io');
    t.clock.now += 59_999;
    expect(ownersOf(await lookup())).toEqual({ 'acme.io': ['nina@acme.io'], 'nobody.io': [] });
    expect(t.calls).toEqual([['acme.io', 'nobody.io']]);
    // Only the new domain goes to the CRM.
    await t.cache.source('t1', 'bulk:1', t.crm, t.clock.now)(['acme.io', 'acme.com']);
    expect(t.calls).toEqual([['acme.io', 'nobody.io'], ['acme.com']]);
    // Past the TTL both are looked up again, and the new owner is seen.
    t.clock.now += 1;
    expect(ownersOf(await lookup())).toEqual({ 'acme.io': ['omar@acme.io'], 'nobody.io': [] });
    expect(t.calls).toHaveLength(3);
  });

  it('shares one CRM call between lookups that miss the same domains at once', async () => {
    const t = setup();
    const [a, b] = await Promise.all([
      t.cache.source('t1', 'bulk:1', t.crm, t.clock.now)(['acme.io', 'x.io']),
      t.cache.source('t1', 'bulk:1', t.crm, t.clock.now)(['acme.io', 'x.io', 'y.io']),
    ]);
    expect(t.calls).toEqual([['acme.io', 'x.io'], ['y.io']]);
    expect(ownersOf(a)).toEqual({ 'acme.io': ['nina@acme.io'], 'x.io': [] });
    expect(ownersOf(b)).toEqual({ 'acme.io': ['nina@acme.io'], 'x.io': [], 'y.io': [] });
  });

  it('keeps nothing from a failed call, and keeps each job’s answers apart', async () => {
    const t = setup();
    t.fail(true);
    await expect(t.cache.source('t1', 'bulk:1', t.crm, t.clock.now)(['acme.io'])).rejects.toThrow(
      'search failed',
    );
    t.fail(false);
    await t.cache.source('t1', 'bulk:1', t.crm, t.clock.now)(['acme.io']);
    await t.cache.source('t1', 'bulk:2', t.crm, t.clock.now)(['acme.io']);
    await t.cache.source('t2', 'bulk:1', t.crm, t.clock.now)(['acme.io']);
    expect(t.calls).toHaveLength(4);
    expect([t.cache.held('t1'), t.cache.held('t2')]).toEqual([2, 1]);
  });

  it('lets go of an idle tenant’s answers, and of entries unused for the TTL', async () => {
    const t = setup();
    await t.cache.source('t1', 'bulk:1', t.crm, t.clock.now)(['acme.io']);
    t.clock.now += 60_000;
    await t.cache.source('t2', 'bulk:1', t.crm, t.clock.now)(['acme.io']);
    t.cache.evict();
    expect([t.cache.held('t1'), t.cache.held('t2')]).toEqual([0, 1]);
    t.clock.now += 600_000;
    t.cache.evict();
    expect(t.cache.held('t2')).toBe(0);
  });

  it('with a TTL of 0, every lookup goes to the CRM', async () => {
    const t = setup(0);
    expect(t.cache.enabled).toBe(false);
    await t.cache.source('t1', 'bulk:1', t.crm, t.clock.now)(['acme.io']);
    await t.cache.source('t1', 'bulk:1', t.crm, t.clock.now)(['acme.io']);
    expect(t.calls).toHaveLength(2);
  });
});
