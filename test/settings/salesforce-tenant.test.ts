// The settings API over a Salesforce tenant, end to end: the app in CRM=salesforce sandbox mode, its
// demo org installed through OAuth, the tab opened as Salesforce opens it (a canvas request signed with
// the connected app's consumer secret), then each page's JSON answered for that org — its rules with
// Salesforce field names validated and simulated, a lead created in the org routed and found in
// Activity with its trace and the actions written to Salesforce, the team from its Users, its
// connection in Health, and Reports on what it routed.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  activityResponseSchema,
  healthResponseSchema,
  leadDetailResponseSchema,
  reportResponseSchema,
  rulesResponseSchema,
  simulateResponseSchema,
  teamResponseSchema,
  validateResponseSchema,
} from '../../src/settings/schemas.js';
import {
  createLeads,
  openSettingsInSalesforce,
  routed,
  salesforceConfig,
  startSalesforceApp,
  until,
  type SalesforceE2e,
} from '../e2e/salesforce-support.js';

const DACH_DEMO = 'Enterprise demo requests in DACH';
/** The demo team's Quinn, whose user the demo org deactivated: every check of its team warns of him. */
const QUINN = {
  file: 'team.yaml',
  line: 11,
  column: 3,
  path: 'reps["quinn@acme.io"]',
  message:
    'the user quinn@acme.io is deactivated in this Salesforce org, so routing skips this rep and no lead goes to them',
};

describe('the settings API of a Salesforce org (Salesforce sandbox)', () => {
  let e: SalesforceE2e;
  let session: { cookie: string; csrf: string; link: string };
  let started: number;

  beforeAll(async () => {
    started = Date.now();
    e = await startSalesforceApp(
      await salesforceConfig({ SETTINGS_SECRET: randomBytes(32).toString('hex') }),
    );
    session = await openSettingsInSalesforce(e, 'ada@acme.io');
  }, 90_000);
  afterAll(async () => {
    await e?.app.stop();
  });

  const api = async (path: string, body?: unknown) => {
    const res = await fetch(`${e.app.url}/api/tenants/${e.tenantId}${path}`, {
      ...(body === undefined
        ? { headers: { cookie: session.cookie } }
        : {
            method: 'POST',
            headers: {
              cookie: session.cookie,
              'x-csrf-token': session.csrf,
              'content-type': 'application/json',
            },
            body: JSON.stringify(body),
          }),
    });
    expect(res.status).toBe(200);
    const answer: unknown = await res.json();
    return answer;
  };

  it("opens the org's session from a signed canvas request and reads its published rules", async () => {
    expect(session.link).toMatch(/^\/settings\/open\?/);
    expect(session.csrf).not.toBe('');
    const rules = rulesResponseSchema.parse(await api('/rules'));
    expect(rules.active?.name).toBe('Salesforce demo org');
    expect(rules.active?.source).toContain('Demo_Requested__c: true');
    expect(rules.publications[0]?.publishedBy).toBe('install');
  });

  it('validates a draft by its Salesforce field names and simulates a Salesforce lead', async () => {
    const source = rulesResponseSchema.parse(await api('/rules')).active!.source;
    expect(validateResponseSchema.parse(await api('/rules/validate', { source }))).toMatchObject({
      ok: true,
      errors: [],
    });
    const broken = source.replace('assign: { pool: emea-ae }', 'assign: { pool: emea-aee }');
    const invalid = validateResponseSchema.parse(await api('/rules/validate', { source: broken }));
    expect(invalid.ok).toBe(false);
    expect(invalid.errors[0]?.line).toBe(broken.split('\n').findIndex((l) => l.includes('emea-aee')) + 1);

    // A lead as Salesforce names its fields: the demo request is the custom checkbox.
    const lead = {
      Id: '00Q000000000001AAA',
      Email: 'lea@bigco.de',
      FirstName: 'Lea',
      LastName: 'Berg',
      Company: 'BigCo',
      Country: 'DE',
      NumberOfEmployees: 800,
    };
    const simulated = simulateResponseSchema.parse(
      await api('/simulate', {
        source,
        leads: [
          { ...lead, Demo_Requested__c: true },
          { ...lead, Id: '00Q000000000002AAA', Demo_Requested__c: false },
        ],
      }),
    );
    expect(simulated.problems).toEqual([]);
    expect(simulated.decisions.map((d) => [d.leadId, d.outcome.route])).toEqual([
      ['00Q000000000001AAA', DACH_DEMO],
      ['00Q000000000002AAA', expect.not.stringMatching(DACH_DEMO)],
    ]);
  });

  it("warns of a field the org's Lead and Contact do not have, by the org's own describe", async () => {
    const source = rulesResponseSchema.parse(await api('/rules')).active!.source;
    expect(validateResponseSchema.parse(await api('/rules/validate', { source })).warnings).toEqual([QUINN]);
    // HubSpot's name for the head count (letters only, so spelt like a Salesforce field), and a custom
    // field misspelt: both plausible names that this org has no field of.
    const before = 'employees: { gte: 500 }, Demo_Requested__c: true';
    expect(source).toContain(before);
    const draft = source.replace(before, 'numemployees: { gte: 500 }, Demo_Request__c: true');
    const line = draft.split('\n').findIndex((l) => l.includes('Demo_Request__c')) + 1;
    const checked = validateResponseSchema.parse(await api('/rules/validate', { source: draft }));
    expect(checked.ok).toBe(true);
    expect(checked.warnings).toEqual([
      expect.objectContaining({
        line,
        message:
          '"numemployees" is not a field of this Salesforce org\'s Lead or Contact, so it never has a value there',
      }),
      expect.objectContaining({
        line,
        message:
          '"Demo_Request__c" is not a field of this Salesforce org\'s Lead or Contact, so it never has a value there',
        suggestion: 'Demo_Requested__c',
      }),
      QUINN,
    ]);
  });

  it('refuses a draft whose queue targets a team, which a Salesforce org does not have, at its line', async () => {
    const active = rulesResponseSchema.parse(await api('/rules')).active!;
    const draft = `${active.source}team:\n  queues:\n    SMB: { team: Inbound }\n`;
    const checked = validateResponseSchema.parse(await api('/rules/validate', { source: draft }));
    expect(checked.ok).toBe(false);
    expect(checked.errors).toEqual([
      {
        file: 'rules.yaml',
        line: draft.split('\n').findIndex((l) => l.includes('team: Inbound')) + 1,
        column: 18,
        path: 'team.queues.SMB.team',
        message:
          'Salesforce has no teams, so queue "SMB" cannot land on team Inbound: give it an owner instead, { owner: a user\'s email, or a Lead queue\'s name or id (00G…) }',
      },
    ]);

    const refused = await fetch(`${e.app.url}/api/tenants/${e.tenantId}/rules/publish`, {
      method: 'POST',
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ source: draft, note: 'triage by team', basedOn: active.version }),
    });
    expect(refused.status).toBe(422);
    expect(rulesResponseSchema.parse(await api('/rules')).active!.version).toBe(active.version);
  });

  it("warns of a queue owner that is neither a user nor a Lead queue of the org, at its line, by the org's own directory", async () => {
    const active = rulesResponseSchema.parse(await api('/rules')).active!;
    // The rules' own team, its queues as the demo team names them but one in the wrong case (queue names
    // are sent as Setup spells them) and one a user's email misspelt.
    const queues =
      '    EMEA: { owner: emea }\n    NA: { owner: NA_Queue }\n    APAC: { owner: bo@acme.co }\n    SMB: { owner: 00G8d0000000004EAA }\n';
    const draft = `${active.source}team:\n  reps:\n    ada@acme.io: {}\n    bo@acme.io: {}\n  queues:\n${queues}`;
    const lineOf = (text: string) => draft.split('\n').findIndex((l) => l.includes(text)) + 1;
    const checked = validateResponseSchema.parse(await api('/rules/validate', { source: draft }));
    expect(checked.errors).toEqual([]);
    expect(checked.warnings).toEqual([
      {
        file: 'rules.yaml',
        line: lineOf('owner: emea'),
        column: 20,
        path: 'team.queues.EMEA.owner',
        message:
          '"emea" is neither a queue of this Salesforce org (by name or id) nor a user (by email or id), so the leads routed to queue "EMEA" would be dead letters',
        suggestion: 'EMEA',
      },
      {
        file: 'rules.yaml',
        line: lineOf('bo@acme.co'),
        column: 20,
        path: 'team.queues.APAC.owner',
        message:
          'no user of this Salesforce org has the email bo@acme.co, so the leads routed to queue "APAC" would be dead letters',
        suggestion: 'bo@acme.io',
      },
    ]);
    // The published rules with the team the org was installed with: every queue owner is the org's, and
    // only the rep the org deactivated is warned of.
    expect(
      validateResponseSchema.parse(await api('/rules/validate', { source: active.source })).warnings,
    ).toEqual([QUINN]);
  });

  it('finds a lead routed in the org in Activity with its trace and the actions written to Salesforce, and the rest of the tab answers for the org', async () => {
    const [id] = await createLeads(e, {
      leads: [
        {
          FirstName: 'Jonas',
          LastName: 'Keller',
          Company: 'Keller Maschinenbau',
          Email: 'jonas@keller-maschinenbau.de',
          Country: 'DE',
          NumberOfEmployees: 900,
          Demo_Requested__c: true,
        },
      ],
    });
    await until('the lead to be routed', () => routed(e, [id!]));

    const found = activityResponseSchema.parse(
      await api(`/activity?q=${encodeURIComponent('jonas@keller')}`),
    );
    expect(found.leads).toEqual([
      expect.objectContaining({ leadId: id, email: 'jonas@keller-maschinenbau.de', route: DACH_DEMO }),
    ]);
    const owner = found.leads[0]!.owner;
    expect(['ada@acme.io', 'bo@acme.io']).toContain(owner);

    let detail = leadDetailResponseSchema.parse(await api(`/activity/${id}`));
    await until('every action to be carried out', async () => {
      detail = leadDetailResponseSchema.parse(await api(`/activity/${id}`));
      return detail.decisions[0]?.actions.every((a) => a.status !== 'planned') ?? false;
    });
    const [decision] = detail.decisions;
    expect(decision?.route).toBe(DACH_DEMO);
    expect(decision?.explanation).toContain(DACH_DEMO);
    expect(decision?.explanation).toContain('emea-ae');
    // Each action as Salesforce answered it: the owner set on the lead, the task and the note with their
    // ids, the cadence enrollment (Salesforce's action answers with no id for it).
    expect(decision!.actions).toEqual([
      { kind: 'set_owner', status: 'done', crmId: id, error: null, note: null },
      { kind: 'create_task', status: 'done', crmId: expect.stringMatching(/^00T/), error: null, note: null },
      { kind: 'enroll_sequence', status: 'done', crmId: null, error: null, note: null },
      { kind: 'write_note', status: 'done', crmId: expect.stringMatching(/^00T/), error: null, note: null },
    ]);

    const team = teamResponseSchema.parse(await api('/team'));
    expect(team.crm.error).toBeNull();
    expect(team.reps.find((r) => r.email === owner)).toMatchObject({ inTeam: true, active: true });
    expect(
      team.pools.find((p) => p.name === 'emea-ae')?.members.find((m) => m.email === owner)?.assigned,
    ).toBe(1);

    await until('the CRM calls to be counted', async () => {
      const h = healthResponseSchema.parse(await api('/health'));
      return h.crmCalls.ok > 0;
    });
    const health = healthResponseSchema.parse(await api('/health'));
    expect(health.crm).toEqual({ ok: true, detail: 'connected' });
    expect(health.inbox).toMatchObject({ pending: 0, leased: 0, failed: 0 });
    expect(health.deadLetters).toEqual([]);
    expect(health.failedActions).toEqual([]);
    // The org's change-event stream, read by the app on both channels since the install; the lead above
    // came through its Leads channel.
    expect(health.stream?.channels).toEqual([
      expect.objectContaining({
        channel: '/data/ContactChangeEvent',
        readSince: expect.any(Number) as unknown,
        lapsedAt: null,
      }),
      expect.objectContaining({
        channel: '/data/LeadChangeEvent',
        readSince: expect.any(Number) as unknown,
        lapsedAt: null,
        lastEventAt: expect.any(Number) as unknown,
      }),
    ]);

    const report = reportResponseSchema.parse(
      await api(`/reports/distribution?since=${new Date(started).toISOString()}`),
    );
    expect(report.rows).toContainEqual(expect.objectContaining({ pool: 'emea-ae', rep: owner, assigned: 1 }));
  }, 120_000);
});
