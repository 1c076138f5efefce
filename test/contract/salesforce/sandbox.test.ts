// Salesforce-specific behaviour over real HTTP against the Salesforce sandbox (its SOQL parsed by a real
// SOQL parser): the active lead assignment rule is kept off our owner writes, hostile values stay
// literals, an expired session is refreshed once and the rotated refresh token lands encrypted in the
// tenant row, the org's API usage is read from Sforce-Limit-Info, and a note's closed status is the one
// the org's TaskStatus marks closed.
import { randomBytes } from 'node:crypto';
import { Connection } from 'jsforce';
import { DEFAULT_SCHEMA_TTL_MS } from '../../../connectors/connector.js';
import { SalesforceSession, type SalesforceApp } from '../../../connectors/salesforce/auth.js';
import {
  NOTE_SUBJECT,
  SalesforceConnector,
  type SalesforceConnectorOptions,
} from '../../../connectors/salesforce/connector.js';
import { usagePace } from '../../../connectors/salesforce/errors.js';
import { soql, soqlLike, soqlString } from '../../../connectors/salesforce/soql.js';
import { Keyring } from '../../../connectors/shared/crypto.js';
import {
  createSalesforceSandbox,
  type DemoOrg,
  type SalesforceSandbox,
  type SRecord,
} from '../../../connectors/sandbox-salesforce/index.js';
import { salesforceTokenStore } from '../../../src/app/salesforce.js';
import { openStorage, type Storage } from '../../../src/storage/index.js';
import { integrationTokens, sandboxApp } from '../../sandbox-salesforce/support.js';

let sf: SalesforceSandbox;
let demo: DemoOrg;
let url: string;
let app: SalesforceApp;
let storage: Storage;

beforeAll(async () => {
  sf = createSalesforceSandbox({ seed: 5, dailyApiLimit: 1_000 });
  demo = sf.createDemoOrg({ accounts: 10 });
  ({ url } = await sf.start());
  app = sandboxApp(url);
  storage = await openStorage({ file: ':memory:', cipher: new Keyring(randomBytes(32)), now: () => 1 });
  await storage.createTenant({ provider: 'salesforce', externalId: demo.org.orgId, name: 'Demo org' }, 1);
});
afterAll(async () => {
  await sf.stop();
  await storage.close();
});

/** A connector for the demo org, its tokens stored as an install stores them; `options` as a test needs. */
async function connector(
  options: Pick<SalesforceConnectorOptions, 'now' | 'log'> = {},
): Promise<{ connector: SalesforceConnector; session: SalesforceSession }> {
  const store = salesforceTokenStore(storage, () => 2);
  const tokens = integrationTokens(sf, demo, url);
  await store.save(demo.org.orgId, tokens);
  const session = new SalesforceSession({ app, tokens, store });
  return {
    connector: new SalesforceConnector({ session, retry: { baseDelayMs: 5, maxAttempts: 2 }, ...options }),
    session,
  };
}

const ada = (): string => String(demo.users.find((u) => u['Email'] === 'ada@acme.io')?.['Id']);

it("keeps the org's active assignment rule off our owner writes (Sforce-Auto-Assign: FALSE)", async () => {
  const { connector: c } = await connector();
  const [mine, theirs] = demo.createLeads(2).map((l) => String(l['Id']));
  // A plain jsforce update without the header: the org's rule re-runs and moves the owner to a queue.
  const issued = sf.issueToken(demo.org.orgId, demo.integrationUserId);
  const raw = new Connection({ instanceUrl: url, accessToken: issued.token, version: '62.0' });
  await raw.sobject('Lead').update({ Id: theirs!, OwnerId: ada() });
  expect(String(demo.org.get(theirs!)?.['OwnerId'])).not.toBe(ada());
  expect(await c.setOwners([{ leadId: mine!, ownerId: ada() }])).toEqual([{ ok: true, id: mine }]);
  expect(String(demo.org.get(mine!)?.['OwnerId'])).toBe(ada());
});

it('refuses a queue as a Contact owner per item, and lets a queue own a Lead', async () => {
  const { connector: c } = await connector();
  const [lead] = demo.createLeads(1).map((l) => String(l['Id']));
  const issued = sf.issueToken(demo.org.orgId, demo.integrationUserId);
  const raw = new Connection({ instanceUrl: url, accessToken: issued.token, version: '62.0' });
  const created = await raw.sobject('Contact').create({ LastName: 'Turing', Email: 'alan@bletchley.co.uk' });
  const contact = String(created.id);
  const queue = demo.queues.get('EMEA') ?? '';
  const results = await c.setOwners([
    { leadId: lead!, ownerId: queue },
    { leadId: contact, ownerId: queue },
  ]);
  expect(results[0]).toEqual({ ok: true, id: lead });
  expect(results[1]).toMatchObject({
    ok: false,
    error: { kind: 'invalid', message: expect.stringContaining('must be a user') },
  });
});

it.each([
  "acme.com' OR Name != '",
  "x\\' OR Id != null OR Website LIKE '",
  "%' OR Website LIKE '%",
  'müller-ä.de',
])('a hostile domain %j stays one literal to a real SOQL parser and matches nothing', async (domain) => {
  const { connector: c } = await connector();
  const found = await c.findAccountsByDomain([domain]);
  expect(found.get(domain.toLowerCase()) ?? []).toEqual([]);
});

it('quoted values find exactly the record that holds them, and a hostile value finds nothing', async () => {
  const issued = sf.issueToken(demo.org.orgId, demo.integrationUserId);
  const raw = new Connection({ instanceUrl: url, accessToken: issued.token, version: '62.0' });
  const name = 'O\'Brien \\ Sons "50%_off" 東京';
  await raw.sobject('Account').create({ Name: name, Website: 'obrien.example' });
  const exact = await raw.query(soql`SELECT Id, Name FROM Account WHERE Name = ${soqlString(name)}`);
  expect(exact.records.map((r) => String(r['Name']))).toEqual([name]);
  const like = await raw.query(
    soql`SELECT Id FROM Account WHERE Name LIKE ${soqlLike('50%_off', 'contains')}`,
  );
  expect(like.totalSize).toBe(1);
  for (const hostile of ["x' OR Name != '", '%', "%' OR Name LIKE '%"]) {
    const none = await raw.query(
      soql`SELECT Id FROM Account WHERE Website LIKE ${soqlLike(hostile, 'contains')}`,
    );
    expect(none.totalSize).toBe(0);
  }
});

it('refreshes an expired session once and stores the new tokens encrypted in the tenant row', async () => {
  const { connector: c } = await connector();
  const tenant = await storage.findTenant('salesforce', demo.org.orgId);
  const before = await storage.getTenantToken(tenant!.id);
  await fetch(`${url}/_sandbox/orgs/${demo.org.orgId}/tokens/expire`, { method: 'POST' });
  expect(await c.checkConnection()).toEqual({ ok: true });
  const after = JSON.parse((await storage.getTenantToken(tenant!.id)) ?? '{}') as {
    accessToken: string;
    refreshToken: string;
  };
  expect(after.accessToken).not.toBe(JSON.parse(before ?? '{}').accessToken);
  // The stored access token works, and no token is readable in the raw row.
  const conn = new Connection({ instanceUrl: url, accessToken: after.accessToken, version: '62.0' });
  await expect(conn.query('SELECT Id FROM User LIMIT 1')).resolves.toMatchObject({ done: true });
  const raw = JSON.stringify(await storage.listTenants());
  expect(raw).not.toContain(after.accessToken);
  expect(raw).not.toContain(after.refreshToken);
});

it("reads the org's daily API usage from every answer and paces by it", async () => {
  const { connector: c } = await connector();
  await c.checkConnection();
  const usage = c.apiUsage();
  expect(usage?.limit).toBe(1_000);
  expect(usage?.used).toBeGreaterThan(0);
  expect(usagePace(usage).level).toBe('normal');
  expect(usagePace({ used: 960, limit: 1_000, at: 0 }).level).toBe('paused');
});

it("knows each Lead queue's members: a user's teams are the queues it works (GroupMember)", async () => {
  const { connector: c } = await connector();
  const d = await c.directory();
  const members = new Map<string, string[]>();
  for (const member of demo.org.table('GroupMember').values()) {
    const queue = [...demo.queues].find(([, id]) => id === member['GroupId'])?.[0];
    const user = demo.users.find((u) => u['Id'] === member['UserOrGroupId']);
    if (queue === undefined || user === undefined) continue;
    const email = String(user['Email']).toLowerCase();
    members.set(email, [...(members.get(email) ?? []), queue]);
  }
  expect(members.size).toBeGreaterThan(0);
  for (const owner of d.owners)
    expect([owner.email, owner.teams]).toEqual([owner.email, members.get(owner.email) ?? []]);
  // Every queue a rule can name is in the directory.
  for (const [name, id] of demo.queues) expect(d.queues[name]).toBe(id);
});

describe("a note's closed status is the org's (TaskStatus)", () => {
  afterEach(() => sf.reset());

  const noteOn = async (c: SalesforceConnector): Promise<SRecord | undefined> => {
    const [lead] = demo.createLeads(1).map((l) => String(l['Id']));
    const [result] = await c.writeNotes([{ leadId: lead!, key: 'n', text: 'rule 1 matched' }]);
    return result?.ok === true && result.id !== undefined ? demo.org.get(result.id) : undefined;
  };

  it("a default org's note is Completed", async () => {
    const { connector: c } = await connector();
    expect(await noteOn(c)).toMatchObject({ Subject: NOTE_SUBJECT, Status: 'Completed', IsClosed: true });
  });

  it("an org whose closed status is 'Finished' gets notes with Status 'Finished', closed", async () => {
    demo.org.setTaskStatuses([
      { apiName: 'Open', default: true },
      { apiName: 'Finished', label: 'Terminée', closed: true },
      // Closed too but later in the org's order; and 'Done' is what a guess by name would take.
      { apiName: 'Done', closed: true },
    ]);
    const { connector: c } = await connector();
    expect(await noteOn(c)).toMatchObject({ Status: 'Finished', IsClosed: true });
  });

  it('an org that renames its closed status while the app runs gets notes in the new one within the hour', async () => {
    demo.org.setTaskStatuses([
      { apiName: 'Open', default: true },
      { apiName: 'Finished', closed: true },
    ]);
    let clock = Date.now();
    const { connector: c } = await connector({ now: () => clock });
    expect(await noteOn(c)).toMatchObject({ Status: 'Finished', IsClosed: true });
    // The admin replaces 'Finished' by 'Wrapped Up' in Setup.
    demo.org.setTaskStatuses([
      { apiName: 'Open', default: true },
      { apiName: 'Wrapped Up', closed: true },
    ]);
    clock += DEFAULT_SCHEMA_TTL_MS + 1;
    expect(await noteOn(c)).toMatchObject({ Status: 'Wrapped Up', IsClosed: true });
  });

  it('an org that refuses the TaskStatus query gets the status guessed by name, said once', async () => {
    demo.org.setTaskStatuses([
      { apiName: 'Open', default: true },
      { apiName: 'Finished', closed: true },
      { apiName: 'Done', closed: true },
    ]);
    demo.org.hiddenObjects.add('TaskStatus');
    const warnings: Record<string, unknown>[] = [];
    const { connector: c } = await connector({
      log: { warn: (message, meta) => warnings.push({ message, ...meta }) },
    });
    expect(await noteOn(c)).toMatchObject({ Status: 'Done', IsClosed: true });
    expect(await noteOn(c)).toMatchObject({ Status: 'Done' });
    expect(warnings).toEqual([
      {
        message: expect.stringContaining('refused its TaskStatus query'),
        error: expect.stringContaining('INVALID_TYPE'),
      },
    ]);
  });
});
