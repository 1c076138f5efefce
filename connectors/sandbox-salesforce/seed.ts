// A deterministic demo org: the same reps (by email and time zone) as the HubSpot demo portal, so one
// rules file routes the same leads on both CRMs; a queue per team that accepts Leads; accounts with
// owners and websites; an active Territory 2.0 model (a planning one beside it) with users and accounts
// in territories; the demo cadences; and the org's active Lead assignment rule:
//
//   "Standard Web Lead Rule" (active), first match wins —
//     1. Country in US, USA, United States, CA, Canada          → queue NA
//     2. Country in DE, Germany, AT, CH, GB, United Kingdom, FR → queue EMEA
//     3. Country in JP, SG, AU, NZ                              → queue APAC
//     otherwise the default lead owner                          → queue SMB
//
// It fires on every Lead insert and update made through the API unless the request carries
// `Sforce-Auto-Assign: FALSE` — exactly the trap a router must avoid (salesforce.md §0.1).
import { Prng } from '../sandbox-kit/clock.js';
import {
  DEMO_DOMAIN,
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
import { Transaction, type Org, type SRecord, type WriteContext } from './org.js';
import type { SfWriteSource } from './write-log.js';

export const DEMO_QUEUES = ['EMEA', 'NA', 'APAC', 'SMB'] as const;
export const DEMO_CADENCES = ['Enterprise demo follow-up', 'Inbound nurture', 'SMB quick start'] as const;
export const INTEGRATION_USERNAME = `integration@${DEMO_DOMAIN}.sandbox`;
/** What the demo's own web forms write as their API client (changeOrigin `client=DemoForms`). */
export const DEMO_FORMS_CLIENT = 'DemoForms';

const TERRITORIES: { name: string; team: (typeof DEMO_QUEUES)[number]; countries: string[] }[] = [
  { name: 'DACH', team: 'EMEA', countries: ['DE', 'AT', 'CH'] },
  { name: 'Western Europe', team: 'EMEA', countries: ['GB', 'FR'] },
  { name: 'North America', team: 'NA', countries: ['US', 'CA'] },
  { name: 'APAC', team: 'APAC', countries: ['JP', 'SG', 'AU'] },
];

const SIZES = [3, 12, 40, 80, 250, 800, 2500];
const SOURCES = ['Web', 'Phone Inquiry', 'Partner Referral', 'Purchased List', 'Other'];
const FORMS = ['Demo request', 'Contact us', 'Ebook download', 'Webinar signup', 'Pricing page'];

export interface DemoOrg {
  org: Org;
  integrationUserId: string;
  users: SRecord[];
  queues: Map<string, string>;
  accounts: SRecord[];
  /** Creates `n` realistic leads as the demo web forms would (assignment rule on, as Web-to-Lead runs it). */
  createLeads(n: number, source?: SfWriteSource): SRecord[];
  startGenerator(options: { ratePerSec: number }): { stop(): void };
}

const seedCtx = (userId: string, source: SfWriteSource): WriteContext => ({
  userId,
  autoAssign: false,
  changeOrigin: 'com/salesforce/api/soap/62.0;client=SandboxSeed',
  source,
});

/** The demo org's name (its Organization record), which an install shows as the tenant's name. */
export const DEMO_ORG_NAME = 'Acme Demo Org';

export function seedDemoOrg(org: Org, seed = 7, options: { accounts?: number } = {}): DemoOrg {
  const prng = new Prng(seed);
  const tx = new Transaction(`seed-${org.orgId}`);
  // The integration user exists before anyone can own a record: it creates itself.
  const integrationId = org.ids.make('005');
  const integration: SRecord = {
    Id: integrationId,
    Username: INTEGRATION_USERNAME,
    Email: `integration@${DEMO_DOMAIN}`,
    FirstName: 'Integration',
    LastName: 'User',
    Name: 'Integration User',
    IsActive: true,
    TimeZoneSidKey: 'GMT',
    UserType: 'Standard',
    IsDeleted: false,
  };
  org.table('User').set(integrationId, integration);
  const ctx = seedCtx(integrationId, 'seed');
  const create = (obj: string, fields: Record<string, unknown>) => org.create(obj, fields, ctx, tx);

  const users = DEMO_OWNERS.map((d) =>
    create('User', {
      Username: `${d.email}.sandbox`,
      Email: d.email,
      FirstName: d.firstName,
      LastName: d.lastName,
      Alias: d.firstName.slice(0, 5).toLowerCase(),
      Department: d.team,
      IsActive: !d.archived,
      TimeZoneSidKey: d.timeZone,
    }),
  );
  const queues = new Map<string, string>();
  for (const team of DEMO_QUEUES) {
    const q = create('Group', {
      Name: team,
      DeveloperName: `${team}_Queue`,
      Type: 'Queue',
      Email: `${team.toLowerCase()}-queue@${DEMO_DOMAIN}`,
    });
    const id = String(q['Id']);
    queues.set(team, id);
    create('QueueSobject', { QueueId: id, SobjectType: 'Lead' });
    DEMO_OWNERS.forEach((d, i) => {
      const u = users[i];
      if (d.team === team && u !== undefined) create('GroupMember', { GroupId: id, UserOrGroupId: u['Id'] });
    });
  }
  // A public group is a Group too, but not a queue: it can own nothing.
  create('Group', { Name: 'All Sales', DeveloperName: 'All_Sales', Type: 'Regular' });
  for (const name of DEMO_CADENCES) create('ActionCadence', { Name: name, State: 'Active' });
  create('ActionCadence', { Name: 'Retired outreach', State: 'Inactive' });

  const active = users.filter((u) => u['IsActive'] === true);
  const accounts: SRecord[] = [];
  const usedDomains = new Set<string>();
  while (accounts.length < (options.accounts ?? 300)) {
    const { name, domain, country, state, city, customer, owned } = nextDemoCompany(
      prng,
      usedDomains,
      accounts.length,
    );
    accounts.push(
      create('Account', {
        Name: name,
        Website: `https://www.${domain}`,
        BillingCountry: country,
        BillingCity: city,
        ...(state === '' ? {} : { BillingState: state }),
        Industry: prng.pick(INDUSTRIES),
        NumberOfEmployees: prng.pick([8, 20, 45, 80, 150, 400, 900, 1500, 5000, 12000]),
        Type: customer ? 'Customer' : 'Prospect',
        // Unowned accounts belong to the integration user, as records imported by an integration do.
        OwnerId: owned ? prng.pick(active)['Id'] : integrationId,
      }),
    );
  }

  // Territory 2.0: one Active model (State is set by activation, not by the API), one in planning.
  const model = create('Territory2Model', { Name: 'FY27 Sales', DeveloperName: 'FY27_Sales' });
  const planning = create('Territory2Model', { Name: 'FY28 Planning', DeveloperName: 'FY28_Planning' });
  const activeModel = org.table('Territory2Model');
  activeModel.set(String(model['Id']), {
    ...model,
    State: 'Active',
    ActivatedDate: model['CreatedDate'] ?? null,
  });
  activeModel.set(String(planning['Id']), { ...planning, State: 'Planning' });
  for (const t of TERRITORIES) {
    const territory = create('Territory2', {
      Name: t.name,
      DeveloperName: t.name.replace(/\W+/g, '_'),
      Territory2ModelId: model['Id'],
    });
    DEMO_OWNERS.forEach((d, i) => {
      const u = users[i];
      if (d.team === t.team && u !== undefined)
        create('UserTerritory2Association', {
          UserId: u['Id'],
          Territory2Id: territory['Id'],
          RoleInTerritory2: 'Sales Rep',
        });
    });
    for (const a of accounts)
      if (t.countries.includes(String(a['BillingCountry'])))
        create('ObjectTerritory2Association', {
          ObjectId: a['Id'],
          Territory2Id: territory['Id'],
          AssociationCause: 'Territory2AssignmentRule',
        });
  }
  create('Territory2', {
    Name: 'Nordics (planned)',
    DeveloperName: 'Nordics',
    Territory2ModelId: planning['Id'],
  });

  const queueOf = (team: string) => queues.get(team) ?? integrationId;
  org.assignmentRule = {
    id: org.ids.make('01Q'),
    name: 'Standard Web Lead Rule',
    active: true,
    entries: [
      { field: 'Country', values: ['US', 'USA', 'United States', 'CA', 'Canada'], assignTo: queueOf('NA') },
      {
        field: 'Country',
        values: ['DE', 'Germany', 'AT', 'CH', 'GB', 'United Kingdom', 'FR'],
        assignTo: queueOf('EMEA'),
      },
      { field: 'Country', values: ['JP', 'SG', 'AU', 'NZ'], assignTo: queueOf('APAC') },
    ],
    defaultOwnerId: queueOf('SMB'),
  };

  return demoOrgOver(org, prng, { integrationUserId: integrationId, queues });
}

/** What a demo org's generator needs beyond the org's records (kept by a sandbox that persists). */
export interface DemoOrgMeta {
  integrationUserId: string;
  queues: Map<string, string>;
}

/**
 * The demo org over an org already seeded (now, or in an earlier run kept in a file): its users,
 * queues and accounts, and the lead generator drawing from `prng`.
 */
export function demoOrgOver(org: Org, prng: Prng, meta: DemoOrgMeta): DemoOrg {
  const integrationId = meta.integrationUserId;
  const users = org.all('User').filter((u) => u['Id'] !== integrationId);
  const accounts = org.all('Account');
  const leadCtx = (source: SfWriteSource): WriteContext => ({
    userId: integrationId,
    autoAssign: true,
    changeOrigin: `com/salesforce/api/rest/62.0;client=${DEMO_FORMS_CLIENT}`,
    source,
  });
  let leadTx = 0;
  const createLead = (source: SfWriteSource): SRecord => {
    const first = prng.pick(FIRST);
    const last = prng.pick(LAST);
    const account = prng.pick(accounts);
    const freeMail = prng.chance(0.25);
    const domain = freeMail
      ? prng.pick(FREE_MAIL)
      : String(account['Website']).replace(/^https?:\/\/(www\.)?/, '');
    const local = `${first}.${last}`
      .toLowerCase()
      .normalize('NFD')
      .replace(/[^a-z.]/g, '');
    const n = org.table('Lead').size;
    const geo = freeMail ? prng.pick(GEO) : undefined;
    const country = geo?.country ?? String(account['BillingCountry'] ?? 'US');
    const [state, city] =
      geo !== undefined
        ? prng.pick(geo.states)
        : [String(account['BillingState'] ?? ''), String(account['BillingCity'] ?? '')];
    const form = prng.pick(FORMS);
    return org.create(
      'Lead',
      {
        FirstName: first,
        LastName: last,
        Email: `${local}${n > 0 ? n : ''}@${domain}`,
        Company: freeMail ? `${first} ${last}` : account['Name'],
        ...(freeMail ? {} : { Website: account['Website'] }),
        Country: prng.chance(0.1) ? (MESSY[country] ?? country) : country,
        City: city,
        ...(state === '' ? {} : { State: state }),
        Title: prng.pick(TITLES),
        NumberOfEmployees: prng.pick(SIZES),
        LeadSource: prng.pick(SOURCES),
        Demo_Requested__c: form === 'Demo request',
        Description: `Form: ${form}`,
      },
      leadCtx(source),
      new Transaction(`${org.orgId}-lead-${++leadTx}`),
    );
  };

  return {
    org,
    integrationUserId: integrationId,
    users,
    queues: meta.queues,
    accounts,
    createLeads: (n, source = 'admin') => Array.from({ length: n }, () => createLead(source)),
    startGenerator({ ratePerSec }) {
      const timer = setInterval(() => createLead('generator'), Math.max(1, Math.round(1000 / ratePerSec)));
      return { stop: () => clearInterval(timer) };
    },
  };
}
