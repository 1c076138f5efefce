// The real jsforce client against the Salesforce sandbox: OAuth with PKCE, refresh and rotation; SOQL
// query/queryMore; sObject Collections with per-record errors and allOrNone; the cadence action; the
// daily allocation in Sforce-Limit-Info; the Lead assignment rule with and without Sforce-Auto-Assign.
import { Connection, OAuth2 } from 'jsforce';
import {
  DEFAULT_SF_APP,
  DEMO_ORG_NAME,
  targetEffects,
  toId18,
} from '../../connectors/sandbox-salesforce/index.js';
import { API_VERSION, startSandbox, type Running } from './support.js';

let env: Running;
beforeAll(async () => {
  env = await startSandbox();
});
afterAll(() => env.stop());
beforeEach(() => env.sandbox.reset());

interface SaveResult {
  id: string | null;
  success: boolean;
  errors: { statusCode: string; message: string; fields: string[] }[];
}

const userByEmail = (email: string) =>
  env.demo.users.find((u) => u['Email'] === email) ?? fail(new Error(`no user ${email}`));
const queueId = (name: string) => env.demo.queues.get(name) ?? fail(new Error(`no queue ${name}`));

async function authorizeWithPkce(oauth2: OAuth2): Promise<string> {
  const res = await fetch(oauth2.getAuthorizationUrl({ scope: 'api refresh_token id', state: 's1' }), {
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location') ?? '');
  expect(back.searchParams.get('state')).toBe('s1');
  return back.searchParams.get('code') ?? '';
}

describe('OAuth web-server flow with PKCE', () => {
  const oauth = (): OAuth2 =>
    new OAuth2({
      loginUrl: env.url,
      clientId: DEFAULT_SF_APP.clientId,
      clientSecret: DEFAULT_SF_APP.clientSecret ?? '',
      redirectUri: DEFAULT_SF_APP.redirectUris[0] ?? '',
      useVerifier: true,
    });

  it('authorizes with the code and its verifier, and the identity names the org and user', async () => {
    const oauth2 = oauth();
    const conn = new Connection({ oauth2, version: API_VERSION });
    const user = await conn.authorize(await authorizeWithPkce(oauth2));
    expect(user.organizationId).toBe(env.orgId);
    expect(user.id).toBe(env.demo.integrationUserId);
    expect(conn.instanceUrl).toBe(env.url);
    expect(conn.refreshToken).toBeTruthy();
    const count = await conn.query('SELECT COUNT() FROM User');
    expect(count.totalSize).toBe(env.demo.users.length + 1);
  });

  it('refuses a code with another verifier, and a code used twice', async () => {
    const first = oauth();
    const code = await authorizeWithPkce(first);
    const other = oauth(); // its own random verifier
    await expect(new Connection({ oauth2: other }).authorize(code)).rejects.toMatchObject({
      name: 'invalid_grant',
      message: 'invalid code verifier',
    });
    const again = await authorizeWithPkce(first);
    await new Connection({ oauth2: first }).authorize(again);
    await expect(new Connection({ oauth2: first }).authorize(again)).rejects.toMatchObject({
      name: 'invalid_grant',
    });
  });

  it('an expired token answers INVALID_SESSION_ID; jsforce refreshes and retries', async () => {
    const conn = env.connect();
    const refreshed: string[] = [];
    conn.on('refresh', (token: string) => refreshed.push(token));
    const before = conn.accessToken;
    await env.admin(`/_sandbox/orgs/${env.orgId}/tokens/expire`, {});
    const raw = await fetch(`${env.url}/services/data/v${API_VERSION}/query?q=SELECT+Id+FROM+Lead`, {
      headers: { authorization: `Bearer ${before}` },
    });
    expect(raw.status).toBe(401);
    expect(await raw.json()).toEqual([
      { message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' },
    ]);
    await conn.query('SELECT Id FROM Lead LIMIT 1');
    expect(refreshed).toHaveLength(1);
    expect(conn.accessToken).not.toBe(before);
  });

  it('with rotation, a refresh returns a new refresh token and the old one stops working', async () => {
    await env.admin('/_sandbox/oauth', { rotateRefreshTokens: true });
    try {
      const conn = env.connect();
      const old = conn.refreshToken ?? '';
      const answers: { refresh_token?: string }[] = [];
      conn.on('refresh', (_t: string, res: { refresh_token?: string }) => answers.push(res));
      await env.admin(`/_sandbox/orgs/${env.orgId}/tokens/expire`, {});
      await conn.query('SELECT Id FROM Lead LIMIT 1');
      const rotated = answers[0]?.refresh_token;
      expect(rotated).toBeTruthy();
      expect(rotated).not.toBe(old);
      // jsforce keeps the old one (salesforce.md §0.4): it no longer works.
      expect(conn.refreshToken).toBe(old);
      await expect(conn.oauth2.refreshToken(old)).rejects.toMatchObject({ name: 'invalid_grant' });
      await expect(conn.oauth2.refreshToken(rotated ?? '')).resolves.toMatchObject({
        refresh_token: expect.any(String),
      });
    } finally {
      await env.admin('/_sandbox/oauth', { rotateRefreshTokens: false });
    }
  });
});

describe('SOQL', () => {
  it('pages with nextRecordsUrl at the asked batch size, and queryMore and autoFetch read the rest', async () => {
    env.demo.createLeads(450);
    const conn = env.connect();
    const total = (await conn.query('SELECT COUNT() FROM Lead')).totalSize;
    const first = await conn.query('SELECT Id, Email FROM Lead ORDER BY CreatedDate, Id', {
      headers: { 'Sforce-Query-Options': 'batchSize=200' },
    });
    expect(first.done).toBe(false);
    expect(first.records).toHaveLength(200);
    expect(first.totalSize).toBe(total);
    expect(first.nextRecordsUrl).toMatch(new RegExp(`/services/data/v${API_VERSION}/query/01g\\w+-200$`));
    const second = await conn.queryMore(first.nextRecordsUrl ?? '');
    expect(second.records).toHaveLength(200);
    const all = await conn.query('SELECT Id FROM Lead', { autoFetch: true, maxFetch: 100_000 });
    expect(all.records).toHaveLength(total);
    expect(new Set(all.records.map((r) => r.Id)).size).toBe(total);
  });

  it('evaluates WHERE with AND/OR/NOT, IN, LIKE, date literals, parent fields and semi-joins', async () => {
    const conn = env.connect();
    const ada = userByEmail('ada@acme.io');
    const made = await conn.sobject('Lead').create(
      [
        {
          LastName: 'Quote',
          Company: "O'Brien & Co",
          Email: 'x@obrien.ie',
          Country: 'IE',
          NumberOfEmployees: 40,
          OwnerId: ada['Id'],
        },
        {
          LastName: 'Big',
          Company: 'Bigco',
          Email: 'y@bigco.de',
          Country: 'DE',
          NumberOfEmployees: 5000,
          OwnerId: ada['Id'],
        },
      ],
      { headers: { 'Sforce-Auto-Assign': 'FALSE' } },
    );
    expect(made.every((r) => r.success)).toBe(true);
    const q = async (soql: string): Promise<Record<string, unknown>[]> =>
      (await conn.query<Record<string, unknown>>(soql)).records;

    const quoted = await q("SELECT Id, Company FROM Lead WHERE Company = 'o\\'brien & co'");
    expect(quoted.map((r) => r['Company'])).toEqual(["O'Brien & Co"]);
    const mixed = await q(
      "SELECT Id FROM Lead WHERE LastName IN ('Quote', 'Big', 'Other') AND ((Country IN ('IE', 'DE') AND NOT NumberOfEmployees < 100) OR Email LIKE 'x@%.ie')",
    );
    expect(mixed.map((r) => r['Id']).sort()).toEqual(made.map((r) => r.id).sort());
    const recent = await q(
      'SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS:1 AND CreatedDate > 2020-01-01T00:00:00Z',
    );
    expect(recent.length).toBeGreaterThanOrEqual(2);
    const owned = await q(
      "SELECT Id, Owner.Email, Owner.IsActive FROM Lead WHERE Owner.Email = 'ADA@acme.io' ORDER BY NumberOfEmployees DESC",
    );
    expect(owned[0]?.['Owner']).toMatchObject({ Email: 'ada@acme.io', IsActive: true });
    expect(owned.map((r) => r['Id'])).toEqual([made[1]?.id, made[0]?.id]);

    const queues = await q(
      "SELECT Id, Name FROM Group WHERE Type = 'Queue' AND Id IN (SELECT QueueId FROM QueueSobject WHERE SobjectType = 'Lead') ORDER BY Name",
    );
    expect(queues.map((r) => r['Name'])).toEqual(['APAC', 'EMEA', 'NA', 'SMB']);
    const inTerritory = await q(
      "SELECT Territory2Id, Territory2.Name FROM ObjectTerritory2Association WHERE Territory2.Territory2Model.State = 'Active' LIMIT 1",
    );
    expect(inTerritory[0]?.['Territory2']).toMatchObject({ Name: expect.any(String) });
    const models = await q("SELECT COUNT() FROM Territory2Model WHERE State = 'Active'");
    expect(models).toEqual([]);
    expect((await conn.query("SELECT COUNT() FROM Territory2Model WHERE State = 'Active'")).totalSize).toBe(
      1,
    );
  });

  it('finds records by Id IN or Id = among AND-ed conditions: 15- or 18-character ids, of this object only', async () => {
    const conn = env.connect();
    const made = await conn.sobject('Lead').create([
      { LastName: 'One', Company: 'One Co', Country: 'IE' },
      { LastName: 'Two', Company: 'Two Co', Country: 'DE' },
    ]);
    const [one, two] = made.map((r) => String(r.id));
    const account = String(env.demo.accounts[0]?.['Id']);
    const ids = async (soql: string): Promise<string[]> =>
      (await conn.query<{ Id: string }>(soql)).records.map((r) => r.Id).sort();

    // A 15-character id, an Account's id, an id no record has: only this object's records, once each.
    expect(
      await ids(
        `SELECT Id FROM Lead WHERE Id IN ('${one!.slice(0, 15)}', '${two}', '${two}', '${account}', '00Q000000000000AAA')`,
      ),
    ).toEqual([one, two].sort());
    expect(await ids(`SELECT Id FROM Lead WHERE Country = 'DE' AND Id IN ('${one}', '${two}')`)).toEqual([
      two,
    ]);
    expect(await ids(`SELECT Id FROM Lead WHERE (Id = '${one}' AND LastName = 'One')`)).toEqual([one]);
    // With OR or NOT the Id condition does not bound the answer.
    expect(await ids(`SELECT Id FROM Lead WHERE Id = '${one}' OR Id = '${two}'`)).toEqual([one, two].sort());
    expect(
      (await ids(`SELECT Id FROM Lead WHERE NOT Id = '${one}'`)).filter((id) => id === one || id === two),
    ).toEqual([two]);
  });

  it('answers the org itself as its one Organization record, which the API cannot write', async () => {
    const conn = env.connect();
    const { records } = await conn.query<{ Id: string; Name: string }>('SELECT Id, Name FROM Organization');
    expect(records.map((r) => [r.Id, r.Name])).toEqual([[env.demo.org.orgId, DEMO_ORG_NAME]]);
    await expect(conn.sobject('Organization').create({ Name: 'Another' })).rejects.toMatchObject({
      errorCode: expect.any(String),
    });
    await expect(
      conn.sobject('Organization').update({ Id: env.demo.org.orgId, Name: 'Renamed' }),
    ).rejects.toMatchObject({ errorCode: expect.any(String) });
    expect((await conn.query<{ Name: string }>('SELECT Name FROM Organization')).records[0]?.Name).toBe(
      DEMO_ORG_NAME,
    );
  });

  it('refuses bad SOQL as Salesforce does', async () => {
    const conn = env.connect();
    await expect(conn.query('SELECT Nope FROM Lead')).rejects.toMatchObject({ errorCode: 'INVALID_FIELD' });
    await expect(conn.query('SELECT Id FROM Nope')).rejects.toMatchObject({ errorCode: 'INVALID_TYPE' });
    await expect(conn.query('SELEC Id FROM Lead')).rejects.toMatchObject({ errorCode: 'MALFORMED_QUERY' });
  });
});

describe('sObject Collections', () => {
  it('answers per record, with statusCode errors: a queue cannot own a Contact', async () => {
    const conn = env.connect();
    const nina = userByEmail('nina@acme.io');
    const results = (await conn
      .sobject('Contact')
      .create([
        { LastName: 'Ok', OwnerId: nina['Id'] },
        { LastName: 'Queued', OwnerId: queueId('NA') },
        { FirstName: 'No last name' },
      ])) as unknown as SaveResult[];
    expect(results[0]).toMatchObject({ success: true, errors: [] });
    expect(toId18(results[0]?.id ?? '')?.startsWith('003')).toBe(true);
    expect(results[1]).toMatchObject({
      success: false,
      errors: [{ statusCode: 'FIELD_INTEGRITY_EXCEPTION', fields: ['OwnerId'] }],
    });
    expect(results[2]?.errors[0]).toMatchObject({
      statusCode: 'REQUIRED_FIELD_MISSING',
      fields: ['LastName'],
    });
    expect(env.sandbox.writes.list({ kind: 'record.created', sobject: 'Contact' })).toHaveLength(1);
  });

  it('allOrNone writes nothing when one record fails', async () => {
    const conn = env.connect();
    const results = (await conn.sobject('Lead').create(
      [
        { LastName: 'A', Company: 'A' },
        { LastName: 'B', Company: 'B', OwnerId: '00Qbad' },
      ],
      { allOrNone: true },
    )) as unknown as SaveResult[];
    expect(results.map((r) => r.success)).toEqual([false, false]);
    const raw = await conn.requestPost<SaveResult[]>('/composite/sobjects', {
      allOrNone: true,
      records: [
        { attributes: { type: 'Lead' }, LastName: 'A', Company: 'A' },
        { attributes: { type: 'Lead' }, LastName: 'B', Company: 'B', OwnerId: '00Qbad' },
      ],
    });
    expect(raw.map((r) => r.errors[0]?.statusCode)).toEqual([
      'ALL_OR_NONE_OPERATION_ROLLED_BACK',
      'MALFORMED_ID',
    ]);
    expect(env.sandbox.writes.list({ kind: 'record.created', sobject: 'Lead', source: 'api' })).toHaveLength(
      0,
    );
  });

  it('refuses more than 200 records in one call', async () => {
    const conn = env.connect();
    const records = Array.from({ length: 201 }, (_, i) => ({
      attributes: { type: 'Lead' },
      LastName: `L${i}`,
      Company: 'C',
    }));
    await expect(conn.requestPost('/composite/sobjects', { records })).rejects.toMatchObject({
      errorCode: 'EXCEEDED_ID_LIMIT',
    });
  });

  it('updates owners in batch and creates tasks on leads; a task on a lead takes no WhatId', async () => {
    const conn = env.connect({ callOptions: { client: 'LeadRouter' } });
    const [lead] = env.demo.createLeads(1);
    const bo = userByEmail('bo@acme.io');
    const upd = (await conn
      .sobject('Lead')
      .update([{ Id: String(lead?.['Id']), OwnerId: String(bo['Id']) }], {
        headers: { 'Sforce-Auto-Assign': 'FALSE' },
      })) as unknown as SaveResult[];
    expect(upd[0]?.success).toBe(true);
    const tasks = (await conn.sobject('Task').create([
      {
        WhoId: lead?.['Id'],
        OwnerId: bo['Id'],
        Subject: 'Call',
        ActivityDate: '2026-01-06',
        Priority: 'High',
      },
      { WhoId: lead?.['Id'], WhatId: env.demo.accounts[0]?.['Id'], OwnerId: bo['Id'], Subject: 'Bad' },
    ])) as unknown as SaveResult[];
    expect(tasks[0]?.success).toBe(true);
    expect(tasks[1]?.errors[0]?.statusCode).toBe('FIELD_INTEGRITY_EXCEPTION');
    const effects = targetEffects(env.sandbox.writes, env.orgId);
    expect(effects.owners.get(String(lead?.['Id']))).toHaveLength(1);
    expect(effects.tasks.get(String(lead?.['Id']))).toHaveLength(1);
  });
});

describe("the org's Task statuses", () => {
  interface StatusRow {
    ApiName: string;
    MasterLabel: string;
    IsClosed: boolean;
    IsDefault: boolean;
    SortOrder: number;
  }
  const statusesOf = async (conn: Connection) =>
    (
      await conn.query<StatusRow>(
        'SELECT ApiName, MasterLabel, IsClosed, IsDefault, SortOrder FROM TaskStatus ORDER BY SortOrder',
      )
    ).records.map((r) => [r.ApiName, r.MasterLabel, r.IsClosed, r.IsDefault, r.SortOrder]);
  const taskStatusPicklist = async (conn: Connection) =>
    (await conn.sobject('Task').describe()).fields
      .find((f) => f.name === 'Status')
      ?.picklistValues?.map((v): [string, boolean] => [String(v.value), v.defaultValue === true]);

  it("answers TaskStatus with Salesforce's defaults, and the Task describe and saves follow them", async () => {
    const conn = env.connect();
    expect(await statusesOf(conn)).toEqual([
      ['Not Started', 'Not Started', false, true, 1],
      ['In Progress', 'In Progress', false, false, 2],
      ['Completed', 'Completed', true, false, 3],
      ['Waiting on someone else', 'Waiting on someone else', false, false, 4],
      ['Deferred', 'Deferred', false, false, 5],
    ]);
    expect(await taskStatusPicklist(conn)).toEqual([
      ['Not Started', true],
      ['In Progress', false],
      ['Completed', false],
      ['Waiting on someone else', false],
      ['Deferred', false],
    ]);
    const [lead] = env.demo.createLeads(1);
    const saved = (await conn.sobject('Task').create([
      { WhoId: lead?.['Id'], Subject: 'open' },
      { WhoId: lead?.['Id'], Subject: 'done', Status: 'Completed' },
    ])) as unknown as SaveResult[];
    const [open, done] = saved.map((r) => env.demo.org.get(String(r.id)));
    expect([open?.['Status'], open?.['IsClosed']]).toEqual(['Not Started', false]);
    expect([done?.['Status'], done?.['IsClosed']]).toEqual(['Completed', true]);
    // The write log shows the task as the org stored it.
    const logged = (id: string | undefined) =>
      env.sandbox.writes.list({ kind: 'record.created' }).find((w) => w.objectId === id)?.details['IsClosed'];
    expect([logged(open?.['Id'] as string), logged(done?.['Id'] as string)]).toEqual(['false', 'true']);
  });

  it("serves an org's renamed statuses: another closed value, another default, and refuses a value it lacks", async () => {
    await env.admin(`/_sandbox/orgs/${env.orgId}/task-statuses`, {
      statuses: [
        { apiName: 'Open', default: true },
        { apiName: 'Finished', label: 'Terminée', closed: true },
        { apiName: 'Dropped', closed: true },
      ],
    });
    const conn = env.connect();
    expect(await statusesOf(conn)).toEqual([
      ['Open', 'Open', false, true, 1],
      ['Finished', 'Terminée', true, false, 2],
      ['Dropped', 'Dropped', true, false, 3],
    ]);
    expect(await taskStatusPicklist(conn)).toEqual([
      ['Open', true],
      ['Finished', false],
      ['Dropped', false],
    ]);
    const [lead] = env.demo.createLeads(1);
    const saved = (await conn.sobject('Task').create([
      { WhoId: lead?.['Id'], Subject: 'default' },
      { WhoId: lead?.['Id'], Subject: 'closed', Status: 'Finished' },
      { WhoId: lead?.['Id'], Subject: 'gone', Status: 'Completed' },
    ])) as unknown as SaveResult[];
    const [open, finished] = saved.map((r) => (r.id === null ? undefined : env.demo.org.get(r.id)));
    expect([open?.['Status'], open?.['IsClosed']]).toEqual(['Open', false]);
    expect([finished?.['Status'], finished?.['IsClosed']]).toEqual(['Finished', true]);
    expect(saved[2]).toMatchObject({
      success: false,
      errors: [{ statusCode: 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', fields: ['Status'] }],
    });
  });

  it('refuses TaskStatus to a user who cannot see it, as an unknown object', async () => {
    await env.admin(`/_sandbox/orgs/${env.orgId}/task-statuses`, { accessible: false });
    const conn = env.connect();
    await expect(conn.query('SELECT ApiName FROM TaskStatus')).rejects.toMatchObject({
      errorCode: 'INVALID_TYPE',
    });
    await env.admin(`/_sandbox/orgs/${env.orgId}/task-statuses`, { accessible: true });
    expect((await conn.query('SELECT ApiName FROM TaskStatus')).totalSize).toBe(5);
  });
});

describe('assignTargetToSalesCadence', () => {
  it('answers per input with isSuccess and errors, and enrolls a target once', async () => {
    const conn = env.connect();
    const [a, b] = env.demo.createLeads(2);
    const mei = userByEmail('mei@acme.io');
    const inputs = [
      { salesCadenceNameOrId: 'Inbound nurture', targetId: a?.['Id'], userId: mei['Id'] },
      { salesCadenceNameOrId: 'Inbound nurture', targetId: a?.['Id'], userId: mei['Id'] },
      { salesCadenceNameOrId: 'No such cadence', targetId: b?.['Id'], userId: mei['Id'] },
      { salesCadenceNameOrId: 'Inbound nurture', targetId: b?.['Id'] }, // owned by a queue: no user
    ];
    const out = await conn.requestPost<{ isSuccess: boolean; errors: { statusCode: string }[] | null }[]>(
      '/actions/standard/assignTargetToSalesCadence',
      { inputs },
    );
    expect(out.map((o) => o.isSuccess)).toEqual([true, false, false, false]);
    expect(out[0]?.errors).toBeNull();
    expect(out[1]?.errors?.[0]?.statusCode).toBeTruthy();
    const tracker = await conn.query(
      `SELECT Id, State, ActionCadence.Name FROM ActionCadenceTracker WHERE TargetId = '${String(a?.['Id'])}'`,
    );
    expect(tracker.records).toEqual([
      expect.objectContaining({
        State: 'Running',
        ActionCadence: expect.objectContaining({ Name: 'Inbound nurture' }),
      }),
    ]);
    expect(targetEffects(env.sandbox.writes, env.orgId).cadences.get(String(a?.['Id']))).toHaveLength(1);
  });
});

describe('daily API allocation', () => {
  it('reports usage on every answer into conn.limitInfo, and refuses with REQUEST_LIMIT_EXCEEDED when spent', async () => {
    const conn = env.connect();
    await conn.query('SELECT Id FROM User LIMIT 1');
    expect(conn.limitInfo.apiUsage).toEqual({ used: 1, limit: 100_000 });
    await env.admin('/_sandbox/limits', { orgId: env.orgId, used: 99_999 });
    await conn.query('SELECT Id FROM User LIMIT 1');
    expect(conn.limitInfo.apiUsage).toEqual({ used: 100_000, limit: 100_000 });
    await expect(conn.query('SELECT Id FROM User LIMIT 1')).rejects.toMatchObject({
      errorCode: 'REQUEST_LIMIT_EXCEEDED',
      message: 'TotalRequests Limit exceeded.',
    });
    expect(env.sandbox.calls.of(env.orgId).rateLimited).toEqual({ TotalRequests: 1 });
  });

  it('injects faults: a transient REQUEST_LIMIT_EXCEEDED, and a 500 that jsforce retries by itself', async () => {
    const conn = env.connect();
    await env.admin('/_sandbox/faults', { failNext: { kind: '429', count: 1 } });
    await expect(conn.query('SELECT Id FROM User LIMIT 1')).rejects.toMatchObject({
      errorCode: 'REQUEST_LIMIT_EXCEEDED',
    });
    await env.admin('/_sandbox/faults', { failNext: { kind: '500', count: 1 } });
    await expect(conn.query('SELECT Id FROM User LIMIT 1')).resolves.toMatchObject({ totalSize: 1 });
    expect(env.sandbox.calls.of(env.orgId).injected).toEqual({ '429': 1, '500': 1 });
    const raw = await fetch(`${env.url}/services/data/v${API_VERSION}/limits`, {
      headers: { authorization: `Bearer ${conn.accessToken}` },
    });
    expect(raw.headers.get('sforce-limit-info')).toMatch(/^api-usage=\d+\/100000$/);
  });
});

describe('the active Lead assignment rule', () => {
  it('overwrites OwnerId on insert and update unless Sforce-Auto-Assign is FALSE', async () => {
    const conn = env.connect();
    const omar = String(userByEmail('omar@acme.io')['Id']);
    const owner = async (id: string) =>
      (await conn.sobject('Lead').retrieve(id, { fields: ['OwnerId'] }))['OwnerId'] as string;

    const ruled = await conn
      .sobject('Lead')
      .create({ LastName: 'R', Company: 'R', Country: 'US', OwnerId: omar });
    expect(await owner(ruled.id ?? '')).toBe(queueId('NA'));
    const kept = await conn
      .sobject('Lead')
      .create(
        { LastName: 'K', Company: 'K', Country: 'US', OwnerId: omar },
        { headers: { 'Sforce-Auto-Assign': 'FALSE' } },
      );
    expect(await owner(kept.id ?? '')).toBe(omar);

    await conn.sobject('Lead').update({ Id: kept.id ?? '', Title: 'CTO' });
    expect(await owner(kept.id ?? '')).toBe(queueId('NA'));
    await conn
      .sobject('Lead')
      .update({ Id: kept.id ?? '', OwnerId: omar }, { headers: { 'Sforce-Auto-Assign': 'FALSE' } });
    expect(await owner(kept.id ?? '')).toBe(omar);
    const rules = env.sandbox.writes
      .list({ kind: 'owner.set', objectId: kept.id ?? '' })
      .map((w) => w.details['by']);
    expect(rules).toEqual(['request', 'assignment-rule', 'request']);
  });
});
