// A deterministic demo portal: owners across teams and time zones, companies, sequences, and a contact
// generator. Rule files under rules/ refer to DEMO_OWNERS by email.
import { Prng } from '../sandbox-kit/clock.js';
import {
  DEMO_OWNERS,
  FIRST,
  FREE_MAIL,
  GEO,
  INDUSTRIES,
  LAST,
  MESSY,
  TITLES,
  nextDemoCompany,
} from '../sandbox-kit/demo-data.js';
import type { CrmObject, Owner, Portal } from './store.js';
import type { WriteSource } from './write-log.js';

export { DEMO_DOMAIN, DEMO_OWNERS, type DemoOwner } from '../sandbox-kit/demo-data.js';

export const DEMO_TEAMS = { EMEA: '410001', NA: '410002', APAC: '410003', SMB: '410004' } as const;

export const DEMO_SEQUENCES = ['Enterprise demo follow-up', 'Inbound nurture', 'SMB quick start'] as const;

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
    const { name, domain, country, state, city, customer, owned } = nextDemoCompany(
      prng,
      usedDomains,
      companies.length,
    );
    const props: Record<string, string> = {
      name,
      domain,
      website: `https://www.${domain}`,
      country,
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
  // The demo contacts' one custom property, which the demo rules route on.
  portal.customContactProperties.set('demo_requested', 'text');
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
