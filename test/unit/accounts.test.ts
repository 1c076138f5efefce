import fc from 'fast-check';
import { generateAccounts } from '../../bench/accounts-workload.js';
import { AccountIndex, type MatchableLead } from '../../src/core/accounts.js';
import { normalizeCompanyName, registrableDomain, toLead } from '../../src/core/normalize.js';
import type { Account } from '../../src/core/types.js';

let nextId = 1;
function makeAccount(over: Partial<Account> = {}): Account {
  return { id: `acc-${String(nextId++).padStart(3, '0')}`, name: 'Acme', domains: [], ...over };
}
function makeLead(over: Partial<MatchableLead> = {}): MatchableLead {
  return { email: undefined, emailDomain: undefined, websiteDomain: undefined, company: undefined, ...over };
}

describe('AccountIndex.match: order of steps', () => {
  const acme = makeAccount({ id: 'acme', name: 'Acme', domains: ['acme.com'] });
  const acmeByName = makeAccount({ id: 'acme-name', name: 'Globex Corporation', domains: ['globex.com'] });
  const gmailAccount = makeAccount({ id: 'gm', name: 'Google Mail', domains: ['gmail.com'] });
  const index = AccountIndex.build([acme, acmeByName, gmailAccount]);

  it.each<[string, MatchableLead, string | null, string | undefined]>([
    ['email domain', makeLead({ emailDomain: 'acme.com' }), 'acme', 'email_domain'],
    ['email domain derived from email', makeLead({ email: 'ada@eu.acme.com' }), 'acme', 'email_domain'],
    [
      'domain beats name',
      makeLead({ emailDomain: 'acme.com', company: 'Globex Corporation' }),
      'acme',
      'email_domain',
    ],
    [
      'email beats website',
      makeLead({ emailDomain: 'acme.com', websiteDomain: 'globex.com' }),
      'acme',
      'email_domain',
    ],
    [
      'website when email is free mail',
      makeLead({ emailDomain: 'gmail.com', websiteDomain: 'acme.com' }),
      'acme',
      'website_domain',
    ],
    [
      'website when email domain is unknown',
      makeLead({ emailDomain: 'unknown.org', websiteDomain: 'globex.com' }),
      'acme-name',
      'website_domain',
    ],
    [
      'name when domains do not match',
      makeLead({ emailDomain: 'unknown.org', company: 'GLOBEX Corp.' }),
      'acme-name',
      'company_name',
    ],
    ['free mail never matches by domain', makeLead({ emailDomain: 'gmail.com' }), null, undefined],
    ['free-mail website never matches either', makeLead({ websiteDomain: 'gmail.com' }), null, undefined],
    ['no match', makeLead({ emailDomain: 'unknown.org', company: 'Initech' }), null, undefined],
    ['nothing to match with', makeLead(), null, undefined],
    ['blank company', makeLead({ company: '   ' }), null, undefined],
  ])('%s', (_label, lead, expectedId, expectedBy) => {
    const m = index.match(lead);
    expect(m?.account.id ?? null).toBe(expectedId);
    expect(m?.by).toBe(expectedBy);
    if (m) expect(m.candidates).toBe(1);
    if (m) expect(m.tieBreak).toBeUndefined();
  });

  it('works on a lead built by toLead', () => {
    const lead = toLead({ email: 'ada@gmail.com', website: 'https://www.Acme.com/pricing', company: 'x' });
    expect(index.match(lead)).toEqual({ account: acme, by: 'website_domain', score: 1, candidates: 1 });
  });

  it('normalizes account domains given as URLs, www. hosts or emails', () => {
    const idx = AccountIndex.build([
      makeAccount({ id: 'u', domains: ['https://www.Umbrella.co.uk/about'] }),
      makeAccount({ id: 'e', domains: ['sales@eu.initech.de'] }),
      makeAccount({ id: 'bad', domains: ['', 'localhost'] }),
    ]);
    expect(idx.byDomain('umbrella.co.uk').map((a) => a.id)).toEqual(['u']);
    expect(idx.byDomain('initech.de').map((a) => a.id)).toEqual(['e']);
    expect(idx.byDomain('www.initech.de').map((a) => a.id)).toEqual(['e']);
    expect(idx.byDomain('localhost')).toEqual([]);
  });

  it('takes a custom free-mail test', () => {
    const idx = AccountIndex.build([acme], { isFreeMail: (d) => d === 'acme.com' });
    expect(idx.match(makeLead({ emailDomain: 'acme.com' }))).toBeNull();
  });
});

describe('AccountIndex.match: tie-breaks', () => {
  it.each<[string, Account[], string, string]>([
    [
      'customer before prospect',
      [
        makeAccount({ id: 'a', type: 'prospect', contacts: 90 }),
        makeAccount({ id: 'b', type: 'customer', contacts: 1 }),
      ],
      'b',
      'customer before prospect',
    ],
    [
      'customer before partner',
      [makeAccount({ id: 'a', type: 'partner' }), makeAccount({ id: 'b', type: 'customer' })],
      'b',
      'customer before partner',
    ],
    [
      'partner before prospect',
      [makeAccount({ id: 'a', type: 'prospect' }), makeAccount({ id: 'b', type: 'partner' })],
      'b',
      'partner before prospect',
    ],
    [
      'prospect before unknown',
      [makeAccount({ id: 'a' }), makeAccount({ id: 'b', type: 'prospect' })],
      'b',
      'prospect before unknown',
    ],
    [
      'most contacts',
      [
        makeAccount({ id: 'a', type: 'customer', contacts: 12 }),
        makeAccount({ id: 'b', type: 'customer', contacts: 41 }),
        makeAccount({ id: 'c', type: 'prospect', contacts: 99 }),
      ],
      'b',
      'most contacts (41 vs 12)',
    ],
    [
      'missing contacts count as 0',
      [makeAccount({ id: 'a' }), makeAccount({ id: 'b', contacts: 3 })],
      'b',
      'most contacts (3 vs 0)',
    ],
    [
      'lowest id',
      [
        makeAccount({ id: 'b-2', contacts: 5 }),
        makeAccount({ id: 'a-10', contacts: 5 }),
        makeAccount({ id: 'b-1', contacts: 5 }),
      ],
      'a-10',
      'lowest id',
    ],
  ])('%s', (_label, accounts, winner, tieBreak) => {
    const idx = AccountIndex.build(accounts.map((a) => ({ ...a, domains: ['shared.com'] })));
    const m = idx.match(makeLead({ emailDomain: 'shared.com' }));
    expect(m?.account.id).toBe(winner);
    expect(m?.tieBreak).toBe(tieBreak);
    expect(m?.candidates).toBe(accounts.length);
    expect(m?.by).toBe('email_domain');
  });

  it('name step: higher similarity decides after type and contacts', () => {
    const idx = AccountIndex.build(
      [
        makeAccount({ id: 'a', name: 'Acme Rocket Sled Works', contacts: 4 }),
        makeAccount({ id: 'b', name: 'Acme Rocket Sled Works International', contacts: 4 }),
        makeAccount({ id: 'c', name: 'Acme Rocket Sled', contacts: 4 }),
      ],
      { nameThreshold: 0.75 },
    );
    const m = idx.match(makeLead({ company: 'ACME Rocket Sled Works, Inc.' }));
    expect(m?.account.id).toBe('a');
    expect(m?.by).toBe('company_name');
    expect(m?.score).toBe(1);
    expect(m?.candidates).toBe(3);
    expect(m?.tieBreak).toBe('higher name similarity (1.00 vs 0.80)');
  });

  it('name step: type still comes before similarity', () => {
    const idx = AccountIndex.build(
      [
        makeAccount({ id: 'exact', name: 'Acme Rocket Sled Works', type: 'prospect' }),
        makeAccount({ id: 'close', name: 'Acme Rocket Sled Works Intl', type: 'customer' }),
      ],
      { nameThreshold: 0.75 },
    );
    const m = idx.match(makeLead({ company: 'Acme Rocket Sled Works' }));
    expect(m?.account.id).toBe('close');
    expect(m?.score).toBe(0.8);
    expect(m?.tieBreak).toBe('customer before prospect');
  });
});

describe('AccountIndex: name similarity threshold', () => {
  const accounts = [
    makeAccount({ id: 'one', name: 'Umbrella' }),
    makeAccount({ id: 'two', name: 'Umbrella Pharma' }),
    makeAccount({ id: 'four', name: 'Umbrella Pharma Research Labs' }),
    makeAccount({ id: 'five', name: 'Umbrella Pharma Research Labs Europe' }),
  ];

  it.each<[number, string, string | null, number]>([
    [0.8, 'Umbrella Corporation', 'one', 1],
    // {umbrella pharma research labs} vs the same + europe: 4/5 = 0.8 reaches the default threshold.
    [0.8, 'Umbrella Pharma Research Labs', 'four', 2],
    [0.8, 'Umbrella Pharma Research Labs Europe GmbH', 'five', 2],
    [0.81, 'Umbrella Pharma Research Labs Europe GmbH', 'five', 1],
    [0.8, 'Umbrella Pharma Research', null, 0],
    [0.75, 'Umbrella Pharma Research', 'four', 1],
    [0.5, 'Umbrella Pharma Research', 'four', 3],
    [0.5, 'Umbrella', 'one', 2],
    [1, 'Umbrella Pharma', 'two', 1],
    [0.8, 'Pharma Umbrella', 'two', 1],
    [0.8, 'Initech', null, 0],
  ])('threshold %s: %j → %s', (nameThreshold, company, expected, candidates) => {
    const idx = AccountIndex.build(accounts, { nameThreshold });
    const m = idx.match(makeLead({ company }));
    expect(m?.account.id ?? null).toBe(expected);
    expect(m?.candidates ?? 0).toBe(candidates);
    expect(idx.byName(company).length).toBe(candidates);
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects threshold %s', (nameThreshold) => {
    expect(() => AccountIndex.build(accounts, { nameThreshold })).toThrow(RangeError);
  });

  it.each([0.5, 0.8, 1])('finds exactly what a full scan finds on generated accounts (threshold %s)', (t) => {
    const generated = generateAccounts(3000, 7);
    const idx = AccountIndex.build(generated, { nameThreshold: t });
    expect(idx.size).toBe(3000);
    const tokenSets = generated.map((a) => new Set(normalizeCompanyName(a.name)));
    const jaccard = (a: Set<string>, b: Set<string>): number => {
      let inter = 0;
      for (const x of a) if (b.has(x)) inter++;
      return inter / (a.size + b.size - inter);
    };
    const probes = [
      ...generated.slice(0, 150).map((a) => a.name),
      'Analytics',
      'Acme Systems Analytics Group',
    ];
    let total = 0;
    for (const name of probes) {
      const q = new Set(normalizeCompanyName(name));
      const expected = generated
        .filter((_, i) => jaccard(q, tokenSets[i]!) >= t - 1e-9)
        .map((a) => a.id)
        .sort();
      const got = idx
        .byName(name)
        .map((c) => c.account.id)
        .sort();
      expect(got).toEqual(expected);
      total += got.length;
    }
    expect(total).toBeGreaterThanOrEqual(150);
  });
});

describe('generateAccounts', () => {
  it('is deterministic and uses the given owners', () => {
    const owners = ['ada@acme.io', 'bo@acme.io'];
    const a = generateAccounts(500, 1, owners);
    expect(generateAccounts(500, 1, owners)).toEqual(a);
    expect(generateAccounts(500, 2, owners)).not.toEqual(a);
    expect(new Set(a.map((x) => x.id)).size).toBe(500);
    for (const x of a) if (x.owner !== undefined) expect(owners).toContain(x.owner);
    expect(a.some((x) => x.type === 'customer')).toBe(true);
  });
});

describe('AccountIndex: domain lookups', () => {
  // A lookup that misses skips the public-suffix step for a bare "name.tld": such a host is its own
  // registrable domain or has none, so that step could never find another key.
  it('a host of two lower-case labels is its own registrable domain or has none', () => {
    const label = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
    fc.assert(
      fc.property(label, label, (a, b) => {
        const host = `${a}.${b}`;
        expect([host, undefined]).toContain(registrableDomain(host));
      }),
      { numRuns: 2000 },
    );
    for (const host of ['co.uk', 'github.io', 'com.au', 'blogspot.com', '1234567.89012', '-a.com']) {
      expect([host, undefined]).toContain(registrableDomain(host));
    }
  });

  it('still finds accounts by the registrable domain of a longer host', () => {
    const index = AccountIndex.build([makeAccount({ id: 'uk', domains: ['acme.co.uk'] })]);
    expect(index.byDomain('shop.acme.co.uk').map((a) => a.id)).toEqual(['uk']);
    expect(index.byDomain('acme.co.uk').map((a) => a.id)).toEqual(['uk']);
    expect(index.byDomain('co.uk')).toEqual([]);
    expect(index.match(makeLead({ emailDomain: 'eu.acme.co.uk' }))?.account.id).toBe('uk');
    expect(index.match(makeLead({ emailDomain: 'other.co' }))).toBeNull();
  });
});

describe('AccountIndex: name answers kept per index', () => {
  it('gives the same match the first time and every time after, as a fresh index does', () => {
    const generated = generateAccounts(2000, 11);
    const warm = AccountIndex.build(generated);
    const names = fc.oneof(
      fc.constantFrom(...generated.slice(0, 200).map((a) => a.name)),
      fc.constantFrom(...generated.slice(0, 200).map((a) => a.name.split(' ')[0]!)),
      fc.string({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(fc.array(names, { minLength: 1, maxLength: 15 }), (list) => {
        for (const company of [...list, ...list.reverse()]) {
          const lead = makeLead({ company });
          expect(warm.match(lead)).toEqual(AccountIndex.build(generated.slice(0, 2000)).match(lead));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('answers for its own accounts only: two indexes never share an answer', () => {
    const withGlobex = AccountIndex.build([makeAccount({ id: 'g', name: 'Globex Corporation' })]);
    const without = AccountIndex.build([makeAccount({ id: 'i', name: 'Initech' })]);
    const lead = makeLead({ company: 'Globex Corp' });
    expect(withGlobex.match(lead)?.account.id).toBe('g');
    expect(without.match(lead)).toBeNull();
    expect(withGlobex.match(lead)?.account.id).toBe('g');
  });

  it('keeps byName sortable: its answers are copies', () => {
    const index = AccountIndex.build([
      makeAccount({ id: 'a', name: 'Umbrella Pharma' }),
      makeAccount({ id: 'b', name: 'Umbrella' }),
    ]);
    const lead = makeLead({ company: 'Umbrella' });
    expect(index.match(lead)?.account.id).toBe('b');
    expect(index.byName('Umbrella').map((c) => c.account.id)).toEqual(['b']);
    expect(index.match(lead)?.account.id).toBe('b');
  });
});
