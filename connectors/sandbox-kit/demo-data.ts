// Demo people and companies shared by the HubSpot and Salesforce sandboxes, so that one rules file routes
// the same leads to the same reps on both CRMs. Rule files under rules/ refer to DEMO_OWNERS by email.
import type { Prng } from './clock.js';

export interface DemoOwner {
  email: string;
  firstName: string;
  lastName: string;
  team: 'EMEA' | 'NA' | 'APAC' | 'SMB';
  timeZone: string;
  salesSeat: boolean;
  inboxConnected: boolean;
  archived: boolean;
}

export const DEMO_DOMAIN = 'acme.io';

const o = (
  email: string,
  firstName: string,
  lastName: string,
  team: DemoOwner['team'],
  timeZone: string,
  flags: Partial<Pick<DemoOwner, 'salesSeat' | 'inboxConnected' | 'archived'>> = {},
): DemoOwner => ({
  email: `${email}@${DEMO_DOMAIN}`,
  firstName,
  lastName,
  team,
  timeZone,
  salesSeat: flags.salesSeat ?? true,
  inboxConnected: flags.inboxConnected ?? true,
  archived: flags.archived ?? false,
});

export const DEMO_OWNERS: readonly DemoOwner[] = [
  o('ada', 'Ada', 'Keller', 'EMEA', 'Europe/Berlin'),
  o('bo', 'Bo', 'Huber', 'EMEA', 'Europe/Vienna'),
  o('chloe', 'Chloé', 'Martin', 'EMEA', 'Europe/Paris', { inboxConnected: false }),
  o('dev', 'Dev', 'Patel', 'EMEA', 'Europe/London', { salesSeat: false }),
  o('nina', 'Nina', 'Brooks', 'NA', 'America/New_York'),
  o('omar', 'Omar', 'Haddad', 'NA', 'America/Chicago'),
  o('paula', 'Paula', 'Reyes', 'NA', 'America/Los_Angeles'),
  o('quinn', 'Quinn', 'Taylor', 'NA', 'America/Denver', { archived: true }),
  o('kenji', 'Kenji', 'Sato', 'APAC', 'Asia/Tokyo'),
  o('mei', 'Mei', 'Lin', 'APAC', 'Asia/Singapore'),
  o('liam', 'Liam', "O'Connor", 'APAC', 'Australia/Sydney', { salesSeat: false }),
  o('sam', 'Sam', 'Rivera', 'SMB', 'America/New_York'),
  o('tess', 'Tess', 'Novak', 'SMB', 'Europe/Prague', { inboxConnected: false }),
];

export const GEO: { country: string; states: [string, string][] }[] = [
  {
    country: 'US',
    states: [
      ['CA', 'San Francisco'],
      ['NY', 'New York'],
      ['TX', 'Austin'],
      ['WA', 'Seattle'],
      ['IL', 'Chicago'],
    ],
  },
  {
    country: 'DE',
    states: [
      ['BY', 'Munich'],
      ['BE', 'Berlin'],
      ['HH', 'Hamburg'],
    ],
  },
  { country: 'AT', states: [['9', 'Vienna']] },
  { country: 'CH', states: [['ZH', 'Zurich']] },
  {
    country: 'GB',
    states: [
      ['ENG', 'London'],
      ['SCT', 'Edinburgh'],
    ],
  },
  { country: 'FR', states: [['IDF', 'Paris']] },
  {
    country: 'CA',
    states: [
      ['ON', 'Toronto'],
      ['BC', 'Vancouver'],
    ],
  },
  { country: 'JP', states: [['13', 'Tokyo']] },
  { country: 'SG', states: [['', 'Singapore']] },
  {
    country: 'AU',
    states: [
      ['NSW', 'Sydney'],
      ['VIC', 'Melbourne'],
    ],
  },
];
/** Messy spellings real forms produce ("USA" vs "US", "California" vs "CA"). */
export const MESSY: Record<string, string> = {
  US: 'USA',
  DE: 'Germany',
  GB: 'United Kingdom',
  CA: 'California',
};

export const WORDS_A = [
  'Blue',
  'North',
  'Bright',
  'Iron',
  'Silver',
  'Rapid',
  'Green',
  'Nova',
  'Peak',
  'Clear',
  'Quantum',
  'Urban',
  'Alpine',
  'Coral',
  'Delta',
];
export const WORDS_B = [
  'Labs',
  'Systems',
  'Logistics',
  'Health',
  'Analytics',
  'Robotics',
  'Foods',
  'Energy',
  'Cloud',
  'Media',
  'Works',
  'Bank',
  'Retail',
  'Studio',
];
export const INDUSTRIES = [
  'COMPUTER_SOFTWARE',
  'HOSPITAL_HEALTH_CARE',
  'LOGISTICS_AND_SUPPLY_CHAIN',
  'FINANCIAL_SERVICES',
  'RETAIL',
  'MACHINERY',
];
export const FIRST = [
  'Anna',
  'Ben',
  'Carla',
  'David',
  'Elif',
  'Felix',
  'Grace',
  'Hiro',
  'Ines',
  'Jonas',
  'Kara',
  'Luca',
  'Maya',
  'Noah',
  'Olga',
  'Priya',
  'Rafael',
  'Sofia',
  'Tom',
  'Yuki',
];
export const LAST = [
  'Schmidt',
  'Smith',
  'Garcia',
  'Müller',
  'Tanaka',
  'Brown',
  'Rossi',
  'Nguyen',
  'Kowalski',
  'Dubois',
  'Wilson',
  'Chen',
  'Larsen',
  'Costa',
];
export const TITLES = [
  'CEO',
  'CTO',
  'VP Sales',
  'Head of Marketing',
  'Software Engineer',
  'Student',
  'Operations Manager',
  'Procurement Lead',
  'IT Director',
  'Founder',
];
export const FREE_MAIL = ['gmail.com', 'yahoo.com', 'outlook.com', 'gmx.de', 'hotmail.co.uk', 'icloud.com'];

export interface DemoCompany {
  name: string;
  domain: string;
  country: string;
  state: string;
  city: string;
  customer: boolean;
  /** Has an owner (every customer, some prospects). */
  owned: boolean;
}

/** The next demo company; its draws from the PRNG keep this order so that seeded data stays the same. */
export function nextDemoCompany(prng: Prng, usedDomains: Set<string>, index: number): DemoCompany {
  const name = `${prng.pick(WORDS_A)} ${prng.pick(WORDS_B)}`;
  const geo = prng.pick(GEO);
  const tld =
    geo.country === 'US'
      ? 'com'
      : geo.country === 'GB'
        ? 'co.uk'
        : prng.chance(0.5)
          ? 'com'
          : geo.country.toLowerCase();
  let domain = `${name.toLowerCase().replace(/\s+/g, '')}.${tld}`;
  if (usedDomains.has(domain)) domain = `${name.toLowerCase().replace(/\s+/g, '-')}-${index}.${tld}`;
  usedDomains.add(domain);
  const [state, city] = prng.pick(geo.states);
  const customer = prng.chance(0.3);
  const owned = customer || prng.chance(0.3);
  return { name, domain, country: geo.country, state, city, customer, owned };
}
