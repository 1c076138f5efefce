// The same example rule file routes the same leads to the same people on both CRMs: the HubSpot demo
// portal (rules/hubspot-demo) and the Salesforce demo org (rules/salesforce-demo, the same routes under the
// org's own field names) are given equivalent leads, one at a time, each through its real app, intake and
// client; every lead gets the same rule and the same rep (by email) on both.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/app/config.js';
import { startApp, type DecisionEvent, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';
import {
  createLeads,
  effects,
  salesforceConfig,
  startSalesforceApp,
  until,
  type SalesforceE2e,
} from './salesforce-support.js';

interface Lead {
  first: string;
  last: string;
  email: string;
  company?: string;
  country: string;
  state?: string;
  employees: number;
  title: string;
  demo: boolean;
}

// Companies on domains neither demo CRM has an account for: routed by territory, size, mail and form.
const LEADS: Lead[] = [
  {
    first: 'Anna',
    last: 'Keller',
    email: 'anna@keller-werke.example',
    company: 'Keller Werke',
    country: 'DE',
    employees: 800,
    title: 'CTO',
    demo: true,
  },
  {
    first: 'Bob',
    last: 'Stone',
    email: 'bob@stoneworks.example',
    company: 'Stoneworks',
    country: 'US',
    state: 'NY',
    employees: 250,
    title: 'VP Sales',
    demo: true,
  },
  {
    first: 'Cara',
    last: 'Lind',
    email: 'cara.lind@gmail.com',
    country: 'SE',
    employees: 40,
    title: 'Founder',
    demo: false,
  },
  {
    first: 'Dan',
    last: 'Moor',
    email: 'dan@moorhouse.example',
    company: 'Moorhouse',
    country: 'GB',
    employees: 12,
    title: 'Owner',
    demo: false,
  },
  {
    first: 'Eve',
    last: 'Hart',
    email: 'eve@hartley-labs.example',
    company: 'Hartley Labs',
    country: 'GB',
    employees: 400,
    title: 'Head of IT',
    demo: false,
  },
  {
    first: 'Finn',
    last: 'Otto',
    email: 'finn@otto-gruppe.example',
    company: 'Otto Gruppe',
    country: 'AT',
    employees: 2500,
    title: 'CIO',
    demo: false,
  },
  {
    first: 'Gus',
    last: 'Reed',
    email: 'gus@reedcorp.example',
    company: 'Reed Corp',
    country: 'CA',
    employees: 80,
    title: 'Director',
    demo: false,
  },
  {
    first: 'Hana',
    last: 'Sato',
    email: 'hana@sato-kk.example',
    company: 'Sato KK',
    country: 'JP',
    employees: 250,
    title: 'Manager',
    demo: false,
  },
  {
    first: 'Ian',
    last: 'Ng',
    email: 'ian@ng-holdings.example',
    company: 'Ng Holdings',
    country: 'SG',
    employees: 800,
    title: 'COO',
    demo: true,
  },
  {
    first: 'Jo',
    last: 'Silva',
    email: 'jo@silva-sa.example',
    company: 'Silva SA',
    country: 'BR',
    employees: 250,
    title: 'CEO',
    demo: false,
  },
  {
    first: 'Kim',
    last: 'Park',
    email: 'kim@parkline.example',
    company: 'Parkline',
    country: 'US',
    state: 'CA',
    employees: 40,
    title: 'Engineer',
    demo: false,
  },
  {
    first: 'Lea',
    last: 'Roth',
    email: 'lea@roth-ag.example',
    company: 'Roth AG',
    country: 'CH',
    employees: 900,
    title: 'CFO',
    demo: true,
  },
  {
    first: 'Max',
    last: 'Wolf',
    email: 'max@wolf-gmbh.example',
    company: 'Wolf GmbH',
    country: 'DE',
    employees: 80,
    title: 'IT Lead',
    demo: false,
  },
  {
    first: 'Nia',
    last: 'Bell',
    email: 'nia@bellbrook.example',
    company: 'Bellbrook',
    country: 'US',
    state: 'TX',
    employees: 3000,
    title: 'VP',
    demo: false,
  },
];

const hubspotProps = (l: Lead): Record<string, string> => ({
  firstname: l.first,
  lastname: l.last,
  email: l.email,
  ...(l.company === undefined ? {} : { company: l.company, website: `https://www.${l.email.split('@')[1]}` }),
  country: l.country,
  ...(l.state === undefined ? {} : { state: l.state }),
  jobtitle: l.title,
  numemployees: String(l.employees),
  demo_requested: String(l.demo),
});

const salesforceFields = (l: Lead): Record<string, unknown> => ({
  FirstName: l.first,
  LastName: l.last,
  Email: l.email,
  Company: l.company ?? `${l.first} ${l.last}`,
  ...(l.company === undefined ? {} : { Website: `https://www.${l.email.split('@')[1]}` }),
  Country: l.country,
  ...(l.state === undefined ? {} : { State: l.state }),
  Title: l.title,
  NumberOfEmployees: l.employees,
  Demo_Requested__c: l.demo,
});

/** What a decision says about where a lead went, by rep email or queue name. */
const outcome = (d: DecisionEvent | undefined) => {
  const to = d?.decision.destination;
  return {
    rule: d?.decision.route?.name ?? 'fallback',
    to: to?.kind === 'rep' ? to.email : to?.kind === 'queue' ? `queue ${to.name}` : to?.kind,
  };
};

describe('one example rule file, both CRMs', () => {
  let hubspot: RunningApp;
  let salesforce: SalesforceE2e;
  const hubspotDecisions = new Map<string, DecisionEvent>();
  const salesforceDecisions = new Map<string, DecisionEvent>();

  beforeAll(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-both-'));
    hubspot = await startApp(
      loadConfig({ PORT: '0', SANDBOX_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, DEMO_RATE: '0' }),
      {
        logger: createLogger({ silent: true }),
        generate: false,
        sandbox: { webhookTiming: { retryScale: 0.01, batchWindowMs: 20 } },
        onDecision: (d) => hubspotDecisions.set(d.decision.leadId, d),
      },
    );
    salesforce = await startSalesforceApp(await salesforceConfig(), {
      onDecision: (d) => salesforceDecisions.set(d.decision.leadId, d),
    });
  }, 90_000);
  afterAll(async () => {
    await hubspot?.stop();
    await salesforce?.app.stop();
  });

  /** The record of each lead of LEADS on each CRM, once the first test has created them. */
  const created: { contactId: string; leadId: string }[] = [];

  it('gives every lead the same rule and the same rep on HubSpot and on Salesforce', async () => {
    const portal = hubspot.sandbox!.demo.portal;
    const hubspotOutcomes = [];
    const salesforceOutcomes = [];
    // One at a time: rotations and loads advance in the same order on both.
    for (const lead of LEADS) {
      const contact = portal.createObject('contacts', hubspotProps(lead), 'generator');
      const [leadId] = await createLeads(salesforce, { leads: [salesforceFields(lead)] });
      created.push({ contactId: contact.id, leadId: leadId! });
      await until(
        `${lead.email} to be decided on both CRMs`,
        () => hubspotDecisions.has(contact.id) && salesforceDecisions.has(leadId!),
      );
      hubspotOutcomes.push({ email: lead.email, ...outcome(hubspotDecisions.get(contact.id)) });
      salesforceOutcomes.push({ email: lead.email, ...outcome(salesforceDecisions.get(leadId!)) });
    }
    expect(salesforceOutcomes).toEqual(hubspotOutcomes);
    // The leads exercise the file: several rules and several reps, not one catch-all.
    expect(new Set(hubspotOutcomes.map((o) => o.rule)).size).toBeGreaterThanOrEqual(6);
    expect(new Set(hubspotOutcomes.map((o) => o.to)).size).toBeGreaterThanOrEqual(6);
  }, 180_000);

  it("gives the rep's task the same text on both CRMs, saying why the lead came to them", async () => {
    const portal = hubspot.sandbox!.demo.portal;
    /** The body of the task the app created on the contact (HubSpot) or the lead (Salesforce). */
    const hubspotTaskBody = (contactId: string) => {
      const [taskId] = portal.associationsOf('contacts', contactId, 'tasks').keys();
      return taskId === undefined ? undefined : portal.getObject('tasks', taskId).properties['hs_task_body'];
    };
    const salesforceTaskBody = (leadId: string) =>
      effects(salesforce).tasks.get(leadId)?.[0]?.details['Description'];
    await until('every task to be written on both CRMs', () =>
      created.every(
        (c) => hubspotTaskBody(c.contactId) !== undefined && salesforceTaskBody(c.leadId) !== undefined,
      ),
    );
    const hubspotBodies = created.map((c) => hubspotTaskBody(c.contactId));
    expect(created.map((c) => salesforceTaskBody(c.leadId))).toEqual(hubspotBodies);
    // Each names the route that decided (a route's own body aside: the DACH demo route writes one).
    created.forEach((c, i) => {
      const route = hubspotDecisions.get(c.contactId)?.decision.route?.name ?? 'fallback';
      expect(hubspotBodies[i]).toMatch(
        route === 'Enterprise demo requests in DACH'
          ? /asked for a demo/
          : `Why this lead is yours: ${route}`,
      );
    });
  }, 120_000);
});
