// A deterministic demo portal: owners across teams and time zones, companies, sequences, and a contact
// generator. Rule files under rules/ refer to DEMO_OWNERS by email.
import { Prng } from '../sandbox-kit/clock.js';
import type { CrmObject, Owner, Portal } from './store.js';
import type { WriteSource } from './write-log.js';

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

export const DEMO_TEAMS = { EMEA: '410001', NA: '410002', APAC: '410003', SMB: '410004' } as const;

export const DEMO_SEQUENCES = ['Enterprise demo follow-up', 'Inbound nurture', 'SMB quick start'] as const;

const GEO: { country: string; states: [string, string][] }[] = [
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
const MESSY: Record<string, string> = { US: 'USA', DE: 'Germany', GB: 'United Kingdom', CA: 'California' };

const WORDS_A = [
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
const WORDS_B = [
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
const INDUSTRIES = [
  'COMPUTER_SOFTWARE',
  'HOSPITAL_HEALTH_CARE',
  'LOGISTICS_AND_SUPPLY_CHAIN',
  'FINANCIAL_SERVICES',
  'RETAIL',
  'MACHINERY',
];
const FIRST = [
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
const LAST = [
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
const TITLES = [
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
const FREE_MAIL = ['gmail.com', 'yahoo.com', 'outlook.com', 'gmx.de', 'hotmail.co.uk', 'icloud.com'];
const SIZES = ['1-5', '5-25', '25-50', '50-100', '100-500', '500-1000', '1000+'];
const FORMS = ['Demo request', 'Contact us', 'Ebook download', 'Webinar signup', 'Pricing page'];
const SOURCES = ['ORGANIC_SEARCH', 'PAID_SEARCH', 'DIRECT_TRAFFIC', 'REFERRALS', 'SOCIAL_MEDIA', 'OFFLINE'];

export interface DemoPortal {
  portal: Portal;
  owners: Owner[];
  companies: CrmObject[];
  /** Creates `n` realistic contacts (deterministic from the seed); webhooks fire as for real ones. */
  createContacts(n: number, source?: WriteSource): CrmObject[];
  /** Creates contacts at `ratePerSec` until stopped. */
  startGenerator(options: { ratePerSec: number }): { stop(): void };
}

/**
 * Seeds the demo portal, or — when the portal already holds the demo's data (kept from an earlier run) —
 * takes it as it is and continues the contact generator from where it was.
 */
export function seedDemoPortal(portal: Portal, seed = 7, options: { companies?: number } = {}): DemoPortal {
  if (portal.objects.companies.size > 0) return demoPortal(portal, seed, [...portal.owners.values()]);
  const prng = new Prng(seed);
  const owners = DEMO_OWNERS.map((d) =>
    portal.addOwner({
      email: d.email,
      firstName: d.firstName,
      lastName: d.lastName,
      teams: [{ id: DEMO_TEAMS[d.team], name: d.team, primary: true }],
      archived: d.archived,
      salesSeat: d.salesSeat,
      connectedInboxes: d.inboxConnected ? [d.email] : [],
    }),
  );
  const active = owners.filter((x) => !x.archived);
  const ada = owners[0];
  if (ada !== undefined) for (const name of DEMO_SEQUENCES) portal.addSequence(name, ada.userId);

  const companies: CrmObject[] = [];
  const usedDomains = new Set<string>();
  const count = options.companies ?? 300;
  while (companies.length < count) {
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
    if (usedDomains.has(domain))
      domain = `${name.toLowerCase().replace(/\s+/g, '-')}-${companies.length}.${tld}`;
    usedDomains.add(domain);
    const [state, city] = prng.pick(geo.states);
    const customer = prng.chance(0.3);
    const owned = customer || prng.chance(0.3);
    const props: Record<string, string> = {
      name: usedDomains.size === companies.length + 1 ? name : name,
      domain,
      website: `https://www.${domain}`,
      country: geo.country,
      city,
      industry: prng.pick(INDUSTRIES),
      numberofemployees: String(prng.pick([8, 20, 45, 80, 150, 400, 900, 1500, 5000, 12000])),
      lifecyclestage: customer ? 'customer' : prng.pick(['lead', 'marketingqualifiedlead', 'opportunity']),
    };
    if (state !== '') props['state'] = state;
    if (owned) props['hubspot_owner_id'] = prng.pick(active).id;
    companies.push(portal.createObject('companies', props, 'import'));
  }
  return demoPortal(portal, seed, owners, prng);
}

/**
 * Adds an owner (an active user with a sales seat and a connected inbox) for each rep the portal has no
 * owner for, so that a rule set's own team can be routed to in the sandbox. Returns the owners added.
 */
export function ensureOwners(
  portal: Portal,
  reps: readonly { email: string; name?: string | undefined }[],
): Owner[] {
  const added: Owner[] = [];
  for (const rep of reps) {
    if (portal.ownerByEmail(rep.email) !== undefined) continue;
    const [firstName = rep.email.split('@')[0] ?? rep.email, ...rest] = (rep.name ?? '')
      .split(' ')
      .filter(Boolean);
    added.push(
      portal.addOwner({
        email: rep.email.toLowerCase(),
        firstName,
        lastName: rest.join(' '),
        teams: [],
        archived: false,
        salesSeat: true,
        connectedInboxes: [rep.email.toLowerCase()],
      }),
    );
  }
  return added;
}

/**
 * Adds the teams the portal has none of (by name or id), so a rule set's team queues can land here.
 * HubSpot lists teams only through their owners: each new team is given to the first active owner.
 */
export function ensureTeams(portal: Portal, teams: readonly string[]): void {
  const owners = [...portal.owners.values()];
  const holder = owners.find((o) => !o.archived);
  if (holder === undefined) return;
  const known = owners.flatMap((o) => o.teams);
  let next = Math.max(420_000, ...known.map((t) => Number(t.id)).filter(Number.isFinite)) + 1;
  for (const team of new Set(teams)) {
    if (known.some((t) => t.name === team || t.id === team)) continue;
    const added = { id: String(next++), name: team, primary: false };
    holder.teams.push(added);
    known.push(added);
  }
}

/** Adds the sequences the portal has no sequence for (by name), so a rule set's enrollments can run. */
export function ensureSequences(portal: Portal, names: readonly string[]): void {
  const creator = [...portal.owners.values()].find((o) => !o.archived && o.salesSeat);
  if (creator === undefined) return;
  for (const name of new Set(names))
    if (portal.sequenceByName(name) === undefined) portal.addSequence(name, creator.userId);
}

function demoPortal(portal: Portal, seed: number, owners: Owner[], seeded?: Prng): DemoPortal {
  const companies = [...portal.objects.companies.values()].filter((c) => !c.archived);
  // A portal kept from an earlier run continues with other people than the ones it started with.
  const prng = seeded ?? new Prng(seed + portal.objects.contacts.size);

  const createContact = (source: WriteSource): CrmObject => {
    const first = prng.pick(FIRST);
    const last = prng.pick(LAST);
    const company = prng.pick(companies);
    const freeMail = prng.chance(0.25);
    const domain = freeMail ? prng.pick(FREE_MAIL) : (company.properties['domain'] ?? 'example.com');
    const local = `${first}.${last}`
      .toLowerCase()
      .normalize('NFD')
      .replace(/[^a-z.]/g, '');
    let email = `${local}@${domain}`;
    for (let i = 2; portal.findByProperty('contacts', 'email', email) !== undefined; i++)
      email = `${local}${i}@${domain}`;
    const geo = freeMail ? prng.pick(GEO) : undefined;
    const country = geo?.country ?? company.properties['country'] ?? 'US';
    const [state, city] =
      geo !== undefined
        ? prng.pick(geo.states)
        : [company.properties['state'] ?? '', company.properties['city'] ?? ''];
    const form = prng.pick(FORMS);
    const props: Record<string, string> = {
      firstname: first,
      lastname: last,
      email,
      country: prng.chance(0.1) ? (MESSY[country] ?? country) : country,
      city,
      jobtitle: prng.pick(TITLES),
      numemployees: prng.pick(SIZES),
      hs_analytics_source: prng.pick(SOURCES),
      recent_conversion_event_name: form,
      demo_requested: form === 'Demo request' ? 'true' : 'false',
    };
    if (state !== '') props['state'] = prng.chance(0.1) && state === 'CA' ? 'California' : state;
    if (!freeMail) {
      props['company'] = company.properties['name'] ?? '';
      props['website'] = company.properties['website'] ?? '';
    }
    return portal.createObject('contacts', props, source);
  };

  return {
    portal,
    owners,
    companies,
    createContacts: (n, source = 'generator') => Array.from({ length: n }, () => createContact(source)),
    startGenerator({ ratePerSec }) {
      const timer = setInterval(() => createContact('generator'), generatorIntervalMs(ratePerSec));
      return { stop: () => clearInterval(timer) };
    },
  };
}

/** The generator's interval for a rate (contacts per second); at most one contact per millisecond. */
export function generatorIntervalMs(ratePerSec: number): number {
  return Math.max(1, Math.round(1000 / ratePerSec));
}
