// Salesforce end to end: the app (CRM=salesforce) against the Salesforce sandbox over real HTTP and
// CometD, through jsforce. A lead created in the org → its change event → owner, task and cadence
// enrollment written exactly once (the sandbox's write log is the witness); the org's active assignment
// rule does not take the owner back, nor does its duplicate rule refuse it; lead values with quotes reach SOQL harmlessly; a GAP event and an
// expired access token lose nothing; a lead held for enrichment is decided again when a person's update
// brings the missing field (an update of another field does not wake it); a rule on the org's own
// Territory 2.0 assignment routes a contact by its account's territory.
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DecisionEvent } from '../../src/app/start.js';
import { explainLead, listTenants, pickTenant } from '../../src/cli/operate.js';
import {
  admin,
  createLeads,
  duplicated,
  effects,
  restAs,
  routed,
  salesforceConfig,
  startSalesforceApp,
  subscribed,
  subscriptions,
  until,
  type SalesforceE2e,
} from './salesforce-support.js';

describe('Salesforce end to end over the sandbox org', () => {
  let e: SalesforceE2e;
  const decisions = new Map<string, DecisionEvent>();
  beforeAll(async () => {
    e = await startSalesforceApp(await salesforceConfig(), {
      onDecision: (d) => decisions.set(d.decision.leadId, d),
    });
  }, 90_000);
  afterAll(() => e.app.stop());

  /** No inbox item failed and no lead was dead-lettered. */
  async function nothingFailed(): Promise<void> {
    expect((await e.app.storage.inboxStats(e.tenantId)).failed).toBe(0);
    expect(await e.app.storage.deadLetters(e.tenantId, 10)).toEqual([]);
  }

  it('routes 200 new leads exactly once each: one owner, one task, a cadence only for demo requests', async () => {
    const ids = await createLeads(e, { count: 200 });
    await until('every lead to be routed', () => routed(e, ids));
    const w = effects(e);
    expect(duplicated(w, ids)).toEqual([]);
    // Enrolled exactly where the deciding route names a cadence.
    const enrolled = ids.filter((id) => w.cadences.has(id));
    expect(enrolled.length).toBeGreaterThan(0);
    expect(enrolled.sort()).toEqual(
      ids
        .filter((id) => decisions.get(id)?.decision.actions.some((a) => a.kind === 'enroll_sequence'))
        .sort(),
    );
    await nothingFailed();
  }, 120_000);

  it('operator commands take the 15-character ids Setup and record URLs show, and call the org an org', async () => {
    const [id] = await createLeads(e, { count: 1 });
    await until('the lead to be routed', () => routed(e, [id!]));
    const tenant = await pickTenant(e.app.storage, e.orgId.slice(0, 15));
    expect(tenant.id).toBe(e.tenantId);
    const lines = await explainLead(e.app.storage, tenant, id!.slice(0, 15), { reps: {}, queues: {} });
    expect(lines.join('\n')).toContain(id!);
    expect(await listTenants(e.app.storage)).toEqual([
      expect.stringContaining(`salesforce org ${e.orgId}: installed`),
    ]);
    // Case matters in a 15-character id: another case is another record.
    await expect(pickTenant(e.app.storage, e.orgId.slice(0, 15).toLowerCase())).rejects.toThrow(
      `(org ${e.orgId})`,
    );
  }, 120_000);

  it('starts on a change event at once: the stream intake wakes the worker, which does not wait to poll', async () => {
    const worker = e.app.worker!;
    let woken = 0;
    const wake = worker.wake.bind(worker);
    worker.wake = () => {
      woken += 1;
      wake();
    };
    try {
      const ids = await createLeads(e, { count: 1 });
      await until('the lead to be routed', () => routed(e, ids));
      expect(woken).toBeGreaterThan(0);
    } finally {
      worker.wake = wake;
    }
  }, 60_000);

  it('keeps our owner although the org’s active assignment rule would take every lead to a queue', async () => {
    const rule = await admin<{ active: boolean }>(e.sandboxUrl, `/orgs/${e.orgId}/assignment-rule`, {
      active: true,
    });
    expect(rule.active).toBe(true);
    const ids = await createLeads(e, { count: 20 });
    await until('the leads to be routed', () => routed(e, ids));
    const writes = e.app.salesforceSandbox!.crm.writes.list({ orgId: e.orgId, kind: 'owner.set' });
    const conn = restAs(e, e.app.salesforceSandbox!.demo.integrationUserId);
    const stored = await conn.query<{ Id: string; OwnerId: string; Owner: { Email: string } }>(
      `SELECT Id, OwnerId, Owner.Email FROM Lead WHERE Id IN ('${ids.join("','")}')`,
    );
    expect(stored.records).toHaveLength(ids.length);
    for (const lead of stored.records) {
      // On insert the rule gave the lead a queue; our update carried Sforce-Auto-Assign: FALSE.
      const mine = writes.filter((w) => w.objectId === lead.Id);
      expect(mine.map((w) => w.details['by'])).toEqual(['assignment-rule', 'request']);
      const d = decisions.get(lead.Id)?.decision.destination;
      if (d?.kind === 'rep') {
        expect(lead.OwnerId.startsWith('005')).toBe(true);
        expect(lead.Owner.Email).toBe(d.email);
      } else expect(d?.kind).toBe('queue');
      expect(lead.OwnerId).toBe(mine[1]?.details['ownerId']);
    }
  }, 120_000);

  it('gets the owner of a lead through the org’s duplicate rule, which alerts on a look-alike', async () => {
    // Salesforce's standard Lead rule allows an edit of a duplicate with an alert; through the API the
    // alert refuses the save unless the request says allowSave=true.
    await admin(e.sandboxUrl, `/orgs/${e.orgId}/duplicate-rule`, { active: true, onEdit: 'alert' });
    try {
      const twin = { Email: 'sam.twin@twins.example', Company: 'Twins', Country: 'DE', NumberOfEmployees: 5 };
      const ids = await createLeads(e, {
        leads: [
          { LastName: 'Twin', FirstName: 'Sam', ...twin },
          { LastName: 'Twin', FirstName: 'Samuel', ...twin },
        ],
      });
      await until('both look-alike leads to be routed', () => routed(e, ids));
      expect(duplicated(effects(e), ids)).toEqual([]);
      await nothingFailed();
    } finally {
      await admin(e.sandboxUrl, `/orgs/${e.orgId}/duplicate-rule`, { active: false });
    }
  }, 120_000);

  it('routes leads whose values carry quotes and backslashes: no SOQL error, no account wrongly matched', async () => {
    const conn = restAs(e, e.app.salesforceSandbox!.demo.integrationUserId);
    const owner = e.app.salesforceSandbox!.demo.users.find((u) => u['IsActive'] === true)!;
    // A customer account whose name and website carry a quote: found by the lead's domain.
    const account = await conn.sobject('Account').create({
      Name: "O'Brien \\ Sons",
      Website: 'https://www.obrien-sons.example',
      Type: 'Customer',
      BillingCountry: 'US',
      OwnerId: owner['Id'],
    });
    expect(account.success).toBe(true);
    const hostile = [
      { Company: "x' OR Name LIKE '%", Email: "o'hara@gmail.com" },
      { Company: "\\' OR Id != null OR Name = '\\", Email: 'back\\slash@yahoo.com' },
      { Company: "Zoë ' ) OR (Name LIKE '%", Email: 'z\'o"e@outlook.com', Website: "https://x'%.com" },
      { Company: "O'Brien \\ Sons", Email: "pat.o'brien@obrien-sons.example" },
    ].map((v, i) => ({ LastName: `Quote${i}`, Country: 'DE', NumberOfEmployees: 5, ...v }));
    const ids = await createLeads(e, { leads: hostile });
    await until('the leads to be routed', () => routed(e, ids));
    const routes = ids.map((id) => decisions.get(id)?.decision.route?.name);
    const accountRoute = 'Existing customer goes to its account owner';
    // The injection attempts matched no account (a leaked `OR Name LIKE '%'` would have matched them all).
    expect(routes.slice(0, 3).filter((r) => r === accountRoute)).toEqual([]);
    // The quoted account is matched by the lead's domain and its owner gets the lead.
    expect(routes[3]).toBe(accountRoute);
    const last = decisions.get(ids[3]!)?.decision.destination;
    expect(last).toMatchObject({ kind: 'rep', email: owner['Email'] });
    expect(duplicated(effects(e), ids)).toEqual([]);
    await nothingFailed();
  }, 120_000);

  it('a GAP event: the leads it names are found by the catch-up poll and routed once', async () => {
    await admin(e.sandboxUrl, `/orgs/${e.orgId}/cdc`, { gapNext: 3 });
    const ids = await createLeads(e, { count: 5 });
    await until('the leads behind the GAP events to be routed', () => routed(e, ids));
    expect(duplicated(effects(e), ids)).toEqual([]);
    await nothingFailed();
  }, 120_000);

  it('an access token expired mid-stream: the stream and the writes go on after a refresh, nothing lost', async () => {
    const calls = () => admin<Record<string, unknown>>(e.sandboxUrl, `/orgs/${e.orgId}/calls`);
    const before = JSON.stringify(await calls());
    const subscriptionsBefore = subscriptions(e, '/data/LeadChangeEvent');
    const { expired } = await admin<{ expired: number }>(e.sandboxUrl, `/orgs/${e.orgId}/tokens/expire`, {});
    expect(expired).toBeGreaterThan(0);
    const ids = await createLeads(e, { count: 30 });
    await until('the leads created after the expiry to be routed', () => routed(e, ids));
    const more = await createLeads(e, { count: 10 });
    await until('the next leads to be routed', () => routed(e, more));
    expect(duplicated(effects(e), [...ids, ...more])).toEqual([]);
    expect(JSON.stringify(await calls())).not.toBe(before);
    // The stream's next connect was refused: it was rebuilt on the refreshed token and subscribed again.
    await subscribed(e, subscriptionsBefore + 1);
    await nothingFailed();
  }, 120_000);

  it('does not route again the Contact a rep’s Convert makes of a routed lead; a Contact created in the org is routed', async () => {
    const [leadId] = await createLeads(e, {
      leads: [
        {
          FirstName: 'Cora',
          LastName: 'Convert',
          Company: 'Cora Labs',
          Email: 'cora@coralabs.example',
          Country: 'DE',
          NumberOfEmployees: 40,
        },
      ],
    });
    await until('the lead to be routed', () => routed(e, [leadId!]));
    const { contactId, accountId } = await admin<{ contactId: string; accountId: string }>(
      e.sandboxUrl,
      `/orgs/${e.orgId}/leads/${leadId}/convert`,
      {},
    );
    // Created after the conversion: its change event comes after the converted Contact's.
    const conn = restAs(e, e.app.salesforceSandbox!.demo.integrationUserId);
    const direct = await conn.sobject('Contact').create({
      FirstName: 'Dora',
      LastName: 'Direct',
      Email: 'dora@gmail.com',
      MailingCountry: 'DE',
    });
    const directId = direct.success ? direct.id : '';
    // The completion signal: the Contact created in the org is routed and the inbox settled.
    await until('the Contact created in the org to be routed', () => routed(e, [directId]));
    const w = effects(e);
    expect(w.owners.has(contactId)).toBe(false);
    expect(w.tasks.has(contactId)).toBe(false);
    expect(w.cadences.has(contactId)).toBe(false);
    expect(w.notes.has(contactId)).toBe(false);
    expect(decisions.has(contactId)).toBe(false);
    expect(await e.app.storage.findDecision(e.tenantId, `${contactId}:route`)).toBeNull();
    expect(await e.app.storage.slaTimers.slaTimersFor(e.tenantId, contactId)).toEqual([]);
    // The Contact stays with the rep who had the lead, on the account the conversion made.
    const contact = await conn.sobject('Contact').retrieve(contactId);
    const lead = await conn.sobject('Lead').retrieve(leadId!);
    expect(contact).toMatchObject({ OwnerId: lead['OwnerId'], AccountId: accountId });
    // The lead was routed once, and its conversion's Lead update routed nothing more.
    expect(duplicated(w, [leadId!, directId])).toEqual([]);
    const stats = await e.app.storage.inboxStats(e.tenantId);
    expect(stats).toMatchObject({ pending: 0, leased: 0 });
    // Its change event came before the direct Contact's, and the inbox is settled: it was done with so.
    expect(
      e.logs.filter((l) => l.includes(`not routed: converted from lead ${leadId}`) && l.includes(contactId)),
    ).toHaveLength(1);
    await nothingFailed();
  }, 120_000);

  // Last: it leaves a dead letter behind.
  it('dead-letters a lead the org’s blocking duplicate rule refuses, saying once that Salesforce refused it and why', async () => {
    await admin(e.sandboxUrl, `/orgs/${e.orgId}/duplicate-rule`, { active: true, onEdit: 'block' });
    try {
      const twin = { Email: 'bo.twin@twins.example', Company: 'Twins', Country: 'DE', NumberOfEmployees: 5 };
      const [first, second] = await createLeads(e, {
        leads: [
          { LastName: 'Twin', FirstName: 'Bo', ...twin },
          { LastName: 'Twin', FirstName: 'Bob', ...twin },
        ],
      });
      await until('the look-alikes to be tried', async () => {
        const s = await e.app.storage.inboxStats(e.tenantId);
        return s.pending === 0 && s.leased === 0 && s.failed >= 1;
      });
      const dead = (await e.app.storage.deadLetters(e.tenantId, 10)).filter((d) =>
        [first, second].includes(d.event.objectId),
      );
      expect(dead.length).toBeGreaterThan(0);
      for (const d of dead) {
        expect(d.lastError).toMatch(
          /: Salesforce refused: a duplicate rule of the org blocks saving this record .*\[DUPLICATES_DETECTED\]$/,
        );
        expect(d.lastError?.match(/Salesforce refused/g)).toHaveLength(1);
      }
    } finally {
      await admin(e.sandboxUrl, `/orgs/${e.orgId}/duplicate-rule`, { active: false });
    }
  }, 120_000);
});

describe('Salesforce: a lead held for enrichment', () => {
  let e: SalesforceE2e;
  const decisions: DecisionEvent[] = [];
  beforeAll(async () => {
    // The demo org's rules with a first route that holds a lead until its country is known.
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-sf-hold-'));
    const demo = await readFile('rules/salesforce-demo/rules.yaml', 'utf8');
    const hold = `routes:
  - name: Needs a country first
    assign: { hold: { fields: [country], timeout: 2h, then: { pool: smb } } }

`;
    await writeFile(join(dir, 'rules.yaml'), demo.replace(/^routes:\n/m, hold));
    await copyFile('rules/salesforce-demo/team.yaml', join(dir, 'team.yaml'));
    e = await startSalesforceApp(await salesforceConfig({ RULES: join(dir, 'rules.yaml') }), {
      onDecision: (d) => decisions.push(d),
    });
  }, 90_000);
  afterAll(() => e.app.stop());

  it('is decided again when an update brings the missing field, and only then gets its owner and task', async () => {
    const [id] = await createLeads(e, {
      leads: [
        {
          LastName: 'Hold',
          Company: 'Fjord Systems',
          Email: 'ingrid@fjord-systems.example',
          NumberOfEmployees: 80,
        },
      ],
    });
    await until('the lead to be held', () =>
      decisions.some((d) => d.decision.leadId === id && d.decision.destination.kind === 'hold'),
    );
    // Held: nothing written for it yet, and an update of another field does not wake it.
    const person = e.app.salesforceSandbox!.demo.users.find((u) => u['IsActive'] === true)!;
    const conn = restAs(e, String(person['Id']));
    expect((await conn.sobject('Lead').update({ Id: id!, Title: 'CTO' })).success).toBe(true);
    await sleep(1_500);
    expect(effects(e).owners.has(id!)).toBe(false);
    expect(decisions.filter((d) => d.decision.leadId === id).map((d) => d.decision.destination.kind)).toEqual(
      ['hold'],
    );
    // The field it waits for arrives: decided again by the rules after the hold, owner and task once.
    expect((await conn.sobject('Lead').update({ Id: id!, Country: 'DE' })).success).toBe(true);
    await until('the lead to be routed after the update', () => routed(e, [id!]));
    const last = decisions.filter((d) => d.decision.leadId === id).at(-1)!;
    expect(last.decision.route?.name).toBe('EMEA inbound');
    expect(duplicated(effects(e), [id!])).toEqual([]);
  }, 120_000);
});

describe('Salesforce: routing by the org’s own territories (Territory 2.0)', () => {
  let e: SalesforceE2e;
  const decisions: DecisionEvent[] = [];
  beforeAll(async () => {
    // The demo org's rules with a first route on the CRM territory of a contact's account: the
    // connector reads Territory 2.0 only because this rule set reads crm_territories.
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-sf-territory-'));
    const demo = await readFile('rules/salesforce-demo/rules.yaml', 'utf8');
    const byTerritory = `routes:
  - name: Western Europe accounts
    when: { crm_territories: Western Europe }
    assign: { pool: apac-ae }
    task: { subject: 'Western Europe account: {{company}}', due: 1h, priority: medium }

`;
    await writeFile(join(dir, 'rules.yaml'), demo.replace(/^routes:\n/m, byTerritory));
    await copyFile('rules/salesforce-demo/team.yaml', join(dir, 'team.yaml'));
    e = await startSalesforceApp(await salesforceConfig({ RULES: join(dir, 'rules.yaml') }), {
      onDecision: (d) => decisions.push(d),
    });
  }, 90_000);
  afterAll(() => e.app.stop());

  it('routes a contact by its account’s territory in the active model, not by its own country', async () => {
    const conn = restAs(e, e.app.salesforceSandbox!.demo.integrationUserId);
    const accounts = await conn.query<{ Id: string }>(
      "SELECT Id FROM Account WHERE BillingCountry IN ('GB', 'FR') LIMIT 1",
    );
    const accountId = accounts.records[0]?.Id;
    expect(accountId).toBeDefined();
    const inUs = { MailingCountry: 'US', Email: 'pat@gmail.com' };
    const created = await conn
      .sobject('Contact')
      .create({ LastName: 'Territory', FirstName: 'Pat', AccountId: accountId, ...inUs });
    const other = await conn.sobject('Contact').create({ LastName: 'Nowhere', FirstName: 'Sam', ...inUs });
    const ids = [created, other].map((r) => (r.success ? r.id : undefined));
    expect(ids.every((id) => id !== undefined)).toBe(true);
    await until('both contacts to be routed', () => routed(e, ids as string[]));
    const routeOf = (id: string | undefined) =>
      decisions.filter((d) => d.decision.leadId === id).at(-1)?.decision.route?.name;
    expect(routeOf(ids[0])).toBe('Western Europe accounts');
    // A contact without an account is in no territory: the rules go on to its own country and mail.
    expect(routeOf(ids[1])).not.toBe('Western Europe accounts');
    expect(duplicated(effects(e), ids as string[])).toEqual([]);
  }, 120_000);
});
