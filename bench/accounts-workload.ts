// Deterministic, realistic-looking accounts for benchmarks: brand-like names with legal forms, domains
// on several TLDs (some given as URLs or with www.), a lifecycle mix and skewed contact counts. The
// same (n, seed, owners) always yields the same accounts.
import type { Account } from '../src/core/types.js';

const SYLLABLES = [
  'ac',
  'al',
  'an',
  'ar',
  'ba',
  'be',
  'bri',
  'ca',
  'cor',
  'da',
  'del',
  'do',
  'el',
  'en',
  'fa',
  'fin',
  'ga',
  'gel',
  'ha',
  'hel',
  'in',
  'is',
  'ja',
  'ka',
  'kel',
  'la',
  'lin',
  'lo',
  'ma',
  'mer',
  'mo',
  'na',
  'nor',
  'o',
  'pa',
  'per',
  'qua',
  'ra',
  'ri',
  'ro',
  'sa',
  'sel',
  'so',
  'ta',
  'ter',
  'tri',
  'u',
  'va',
  'vel',
  'vo',
  'wa',
  'xe',
  'ya',
  'ze',
  'zo',
  'ly',
  'max',
  'nex',
  'ply',
  'quin',
];
const NOUNS = [
  'Analytics',
  'Systems',
  'Software',
  'Labs',
  'Logistics',
  'Health',
  'Energy',
  'Capital',
  'Robotics',
  'Foods',
  'Media',
  'Networks',
  'Security',
  'Consulting',
  'Partners',
  'Solutions',
  'Industries',
  'Dynamics',
  'Biotech',
  'Cloud',
  'Data',
  'Motors',
  'Retail',
  'Travel',
  'Insurance',
  'Pharma',
  'Design',
  'Studios',
  'Works',
  'Group',
  'Holdings',
  'Technologies',
  'Ventures',
  'Marine',
  'Textiles',
  'Chemicals',
  'Engineering',
  'Payments',
  'Education',
  'Games',
];
const LEGAL = [
  'Inc.',
  'LLC',
  'Ltd',
  'GmbH',
  'AG',
  'S.A.',
  'SAS',
  'B.V.',
  'Corp.',
  'plc',
  'Pty Ltd',
  'Oy',
  'AB',
  'S.r.l.',
  '',
];
const TLDS = [
  'com',
  'com',
  'com',
  'io',
  'de',
  'co.uk',
  'fr',
  'nl',
  'com.au',
  'ca',
  'ch',
  'se',
  'es',
  'it',
  'net',
];
const TYPES: (Account['type'] | undefined)[] = [
  'customer',
  'customer',
  'customer',
  'customer',
  'partner',
  'prospect',
  'prospect',
  'prospect',
  'prospect',
  'prospect',
  'prospect',
  'prospect',
  'prospect',
  'other',
  'other',
  undefined,
];
const DEFAULT_OWNERS = Array.from({ length: 50 }, (_, i) => `rep${i + 1}@example-sales.com`);

/** mulberry32: small, fast and good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)] as T;
}

export function generateAccounts(
  n: number,
  seed: number,
  owners: readonly string[] = DEFAULT_OWNERS,
): Account[] {
  const r = rng(seed);
  const usedDomains = new Set<string>();
  const out: Account[] = [];
  for (let i = 0; i < n; i++) {
    const sylls = 2 + Math.floor(r() * 2);
    let brand = '';
    for (let s = 0; s < sylls; s++) brand += pick(r, SYLLABLES);
    const Brand = brand.charAt(0).toUpperCase() + brand.slice(1);
    const noun = r() < 0.7 ? pick(r, NOUNS) : '';
    const legal = pick(r, LEGAL);
    let name = noun ? `${Brand} ${noun}` : Brand;
    if (legal) name += ` ${legal}`;

    const tld = pick(r, TLDS);
    const base = noun && r() < 0.4 ? `${brand}-${noun.toLowerCase()}` : brand;
    let domain = `${base}.${tld}`;
    for (let k = 2; usedDomains.has(domain); k++) domain = `${base}${k}.${tld}`;
    usedDomains.add(domain);
    const shape = r();
    const domains =
      shape < 0.05
        ? [`https://www.${domain}/`]
        : shape < 0.1
          ? [`www.${domain}`]
          : shape < 0.2
            ? [domain, `${base}.${tld === 'com' ? 'de' : 'com'}`]
            : [domain];

    const type = pick(r, TYPES);
    const contacts = Math.floor(Math.pow(r(), 3) * 500);
    const account: Account = { id: `acc-${(i + 1).toString().padStart(7, '0')}`, name, domains, contacts };
    if (owners.length > 0 && r() < 0.9) account.owner = pick(r, owners);
    if (type !== undefined) account.type = type;
    out.push(account);
  }
  return out;
}
