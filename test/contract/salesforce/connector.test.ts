// The Salesforce connector against Salesforce's documented REST payloads (salesforce.md §2–§5), through
// the real jsforce client: SOQL reads, sObject Collections writes with their per-record errors and
// headers, the cadence action's per-input isSuccess, error bodies, the session refresh with a rotated
// refresh token, and the Sforce-Limit-Info usage.
import nock from 'nock';
import { CrmError } from '../../../connectors/connector.js';
import {
  closedTaskStatus,
  NOTE_SUBJECT,
  SalesforceConnector,
  type TaskStatusRow,
} from '../../../connectors/salesforce/connector.js';
import { CRM_TERRITORIES_FIELD } from '../../../connectors/salesforce/records.js';
import { SalesforceSession } from '../../../connectors/salesforce/auth.js';
import {
  API,
  APP,
  errorBody,
  INSTANCE,
  JSON_TYPE,
  LOGIN,
  memoryStore,
  query,
  record,
  session,
  sfId,
  tokens,
  useNock,
} from './support.js';

useNock();

const ADA = sfId('005', 1);
const BO = sfId('005', 2);
const QUEUE = sfId('00G', 1);
const LEAD = sfId('00Q', 1);
const LEAD2 = sfId('00Q', 2);
const CONTACT = sfId('003', 1);
const ACCOUNT = sfId('001', 1);
const MODEL = sfId('0MA', 1);
const TERRITORY = sfId('0MI', 1);

const noSleep = (): Promise<void> => Promise.resolve();

function connector(over: Partial<ConstructorParameters<typeof SalesforceConnector>[0]> = {}) {
  return new SalesforceConnector({ session: session(), sleep: noSleep, now: () => 1_000, ...over });
}

/** The users query's second page as Salesforce names it (salesforce.md §2: a query locator, `-2000`). */
const NEXT_USERS = `${API}/query/01gD0000002HU6KIAW-2000`;

/**
 * The directory: two users, one Lead queue, an active territory model with one territory. `pagedUsers`:
 * the users come in two pages, the second fetched by its nextRecordsUrl (queryMore).
 */
function directory(scope: nock.Scope, opts: { territories?: boolean; pagedUsers?: boolean } = {}): void {
  const users = [
    record('User', {
      Id: ADA,
      Name: 'Ada Lovelace',
      Email: 'Ada@Acme.io',
      IsActive: true,
      TimeZoneSidKey: 'Europe/London',
      ManagerId: BO,
    }),
    record('User', {
      Id: BO,
      Name: 'Bo Diddley',
      Email: 'bo@acme.io',
      IsActive: false,
      TimeZoneSidKey: 'America/Chicago',
      ManagerId: null,
    }),
  ];
  const isUsers = (q: string): boolean =>
    q.startsWith('SELECT Id, Name, Email, IsActive, TimeZoneSidKey, ManagerId FROM User');
  if (opts.pagedUsers === true) {
    scope
      .get(`${API}/query`)
      .query((params) => typeof params['q'] === 'string' && isUsers(params['q']))
      .reply(
        200,
        { totalSize: 2, done: false, nextRecordsUrl: NEXT_USERS, records: users.slice(0, 1) },
        JSON_TYPE,
      )
      .get(NEXT_USERS)
      .reply(200, { totalSize: 2, done: true, records: users.slice(1) }, JSON_TYPE);
  } else query(scope, isUsers, users);
  query(scope, (q) => q === "SELECT QueueId FROM QueueSobject WHERE SobjectType = 'Lead'", [
    record('QueueSobject', { QueueId: QUEUE }),
  ]);
  query(scope, (q) => q.startsWith('SELECT Id, Name, DeveloperName FROM Group') && q.includes(`'${QUEUE}'`), [
    record('Group', { Id: QUEUE, Name: 'Inbound Triage', DeveloperName: 'Inbound_Triage' }),
  ]);
  // The queue's members: Ada, a nested group (not followed) and a user the User query did not list.
  query(scope, (q) => q === `SELECT GroupId, UserOrGroupId FROM GroupMember WHERE GroupId IN ('${QUEUE}')`, [
    record('GroupMember', { GroupId: QUEUE, UserOrGroupId: ADA }),
    record('GroupMember', { GroupId: QUEUE, UserOrGroupId: sfId('00G', 42) }),
    record('GroupMember', { GroupId: QUEUE, UserOrGroupId: sfId('005', 77) }),
  ]);
  if (opts.territories === false) {
    query(scope, (q) => q.startsWith('SELECT Id FROM Territory2Model'), []);
    return;
  }
  query(scope, (q) => q === "SELECT Id FROM Territory2Model WHERE State = 'Active'", [
    record('Territory2Model', { Id: MODEL }),
  ]);
  query(scope, (q) => q.includes('FROM Territory2 WHERE Territory2ModelId') && q.includes(MODEL), [
    record('Territory2', {
      Id: TERRITORY,
      Name: 'EMEA North',
      DeveloperName: 'EMEA_North',
      ParentTerritory2Id: null,
    }),
  ]);
  query(scope, (q) => q.includes('FROM UserTerritory2Association') && q.includes(TERRITORY), [
    record('UserTerritory2Association', {
      UserId: ADA,
      Territory2Id: TERRITORY,
      RoleInTerritory2: 'Sales Rep',
    }),
  ]);
}

function describe_(scope: nock.Scope, object: string, fields: { name: string; type: string }[]): void {
  scope.get(`${API}/sobjects/${object}/describe`).reply(200, { name: object, fields }, JSON_TYPE);
}

const LEAD_DESCRIBE = [
  'Id',
  'FirstName',
  'LastName',
  'Title',
  'Company',
  'Email',
  'Website',
  'Country',
  'CountryCode',
  'State',
  'StateCode',
  'PostalCode',
  'City',
  'NumberOfEmployees',
  'AnnualRevenue',
  'Industry',
  'LeadSource',
  'OwnerId',
  'CreatedDate',
  'Status',
  'IsConverted',
  'Region__c',
]
  .map((name) => ({ name, type: 'string' }))
  .concat([{ name: 'Interests__c', type: 'multipicklist' }]);

const CONTACT_DESCRIBE = [
  'Id',
  'FirstName',
  'LastName',
  'Title',
  'Email',
  'MailingCountry',
  'MailingState',
  'MailingPostalCode',
  'MailingCity',
  'LeadSource',
  'OwnerId',
  'CreatedDate',
  'AccountId',
].map((name) => ({ name, type: 'string' }));

describe('readLeads', () => {
  it('reads Leads and Contacts in one query each, maps fields, splits multi-selects and adds territories', async () => {
    const scope = nock(INSTANCE);
    directory(scope);
    describe_(scope, 'Lead', LEAD_DESCRIBE);
    describe_(scope, 'Contact', CONTACT_DESCRIBE);
    let leadSoql = '';
    query(
      scope,
      (q) => {
        if (!q.includes('FROM Lead WHERE Id IN')) return false;
        leadSoql = q;
        return true;
      },
      [
        record('Lead', {
          Id: LEAD,
          FirstName: 'Grace',
          LastName: 'Hopper',
          Company: 'Navy Labs',
          Email: 'grace@navylabs.com',
          Website: 'https://www.navylabs.com/about',
          Country: 'Germany',
          CountryCode: 'DE',
          State: 'Bavaria',
          StateCode: 'BY',
          PostalCode: '80331',
          NumberOfEmployees: 1200,
          AnnualRevenue: 5000000,
          LeadSource: 'Web',
          Industry: 'Technology',
          Title: 'VP Engineering',
          OwnerId: ADA,
          CreatedDate: '2026-01-01T00:00:00.000+0000',
          Region__c: 'EMEA',
          Interests__c: 'Routing;Scoring; SLAs',
          Status: 'Open - Not Contacted',
          IsConverted: false,
        }),
      ],
    );
    query(scope, (q) => q.includes('FROM ObjectTerritory2Association') && q.includes(LEAD), [
      record('ObjectTerritory2Association', { ObjectId: LEAD, Territory2Id: TERRITORY }),
    ]);
    query(scope, (q) => q.includes('FROM Contact WHERE Id IN') && q.includes('Account.Name'), [
      record('Contact', {
        Id: CONTACT,
        FirstName: 'Alan',
        LastName: 'Turing',
        Email: 'alan@bletchley.co.uk',
        MailingCountry: 'United Kingdom',
        MailingCity: 'Bletchley',
        OwnerId: QUEUE,
        AccountId: ACCOUNT,
        Account: record('Account', {
          Name: 'Bletchley Park',
          Website: 'bletchley.co.uk',
          NumberOfEmployees: 300,
          Industry: 'Government',
          AnnualRevenue: null,
          OwnerId: BO,
        }),
      }),
    ]);
    query(scope, (q) => q.includes('FROM ObjectTerritory2Association') && q.includes(ACCOUNT), []);

    const leads = await connector().readLeads(
      [LEAD, CONTACT, 'not-an-id', "00Q' OR Id != '"],
      ['Region__c', 'Interests__c', 'Missing__c', CRM_TERRITORIES_FIELD],
    );
    scope.done();
    expect([...leads.keys()]).toEqual([LEAD, CONTACT]);
    // Optional code fields asked because describe lists them; an unknown rule property is not asked.
    expect(leadSoql).toContain('CountryCode');
    expect(leadSoql).toContain('Region__c');
    expect(leadSoql).not.toContain('Missing__c');
    const lead = leads.get(LEAD);
    expect(lead).toMatchObject({
      id: LEAD,
      email: 'grace@navylabs.com',
      emailDomain: 'navylabs.com',
      websiteDomain: 'navylabs.com',
      company: 'Navy Labs',
      country: 'DE',
      state: 'BY',
      postalCode: '80331',
      employees: 1200,
      annualRevenue: 5000000,
      leadSource: 'Web',
      industry: 'Technology',
      title: 'VP Engineering',
      owner: 'ada@acme.io',
      createdAt: Date.UTC(2026, 0, 1),
    });
    expect(lead?.fields['Region__c']).toBe('EMEA');
    // A multi-select picklist (typed so by describe) and the territories reach the core as lists.
    expect(lead?.fields['Interests__c']).toEqual(['Routing', 'Scoring', 'SLAs']);
    expect(lead?.fields[CRM_TERRITORIES_FIELD]).toEqual(['EMEA North']);
    const contact = leads.get(CONTACT);
    expect(contact).toMatchObject({
      company: 'Bletchley Park',
      websiteDomain: 'bletchley.co.uk',
      country: 'GB',
      city: 'Bletchley',
      employees: 300,
      industry: 'Government',
    });
    // A queue owner is not a rep: no `owner`, the id is kept as a field.
    expect(contact?.owner).toBeUndefined();
    expect(contact?.fields['OwnerId']).toBe(QUEUE);
  });

  it('asks no Territory 2.0 query when the rule set does not read crm_territories', async () => {
    // The org has an active territory model (directory), but the rules route by geography only.
    const scope = nock(INSTANCE);
    directory(scope);
    describe_(scope, 'Lead', LEAD_DESCRIBE);
    query(scope, (q) => q.includes('FROM Lead WHERE Id IN'), [
      record('Lead', { Id: LEAD, Company: 'X', Email: 'x@x.io', Country: 'Germany' }),
    ]);
    // Any other request (an ObjectTerritory2Association query) has no interceptor and fails the read.
    const leads = await connector().readLeads([LEAD], ['Region__c']);
    scope.done();
    expect(leads.get(LEAD)?.company).toBe('X');
    expect(leads.get(LEAD)?.fields[CRM_TERRITORIES_FIELD]).toBeUndefined();
  });

  it('does without describe: standard fields only, no optional code fields', async () => {
    const scope = nock(INSTANCE);
    directory(scope, { territories: false });
    scope
      .get(`${API}/sobjects/Lead/describe`)
      .reply(404, errorBody('NOT_FOUND', 'The requested resource does not exist'), JSON_TYPE);
    let soql = '';
    query(
      scope,
      (q) => {
        soql = q;
        return q.includes('FROM Lead');
      },
      [record('Lead', { Id: LEAD, Company: 'X', Email: 'x@x.io' })],
    );
    const leads = await connector().readLeads([LEAD], ['Region__c']);
    scope.done();
    expect(leads.get(LEAD)?.company).toBe('X');
    expect(soql).not.toContain('CountryCode');
    expect(soql).toContain('Region__c');
  });
});

describe('readLeads: Contacts made by converting a lead', () => {
  const CONTACT2 = sfId('003', 2);
  const contactRows = [
    record('Contact', { Id: CONTACT, LastName: 'Turing', Email: 'alan@bletchley.co.uk' }),
    record('Contact', { Id: CONTACT2, LastName: 'Clarke', Email: 'joan@bletchley.co.uk' }),
  ];

  it('asks Lead.ConvertedContactId beside the Contact query and marks the converted Contact only', async () => {
    const scope = nock(INSTANCE);
    directory(scope, { territories: false });
    describe_(scope, 'Lead', [...LEAD_DESCRIBE, { name: 'ConvertedContactId', type: 'reference' }]);
    describe_(scope, 'Contact', CONTACT_DESCRIBE);
    // Each query is answered only once both are asked: the conversion query sent after the Contact
    // query's answer never would be.
    const held: (() => void)[] = [];
    let conversionSoql = '';
    const hold = (match: (q: string) => boolean, records: Record<string, unknown>[]) =>
      scope
        .get(`${API}/query`)
        .query((params) => typeof params['q'] === 'string' && match(params['q']))
        .reply((uri, _body, answer) => {
          const q = new URL(uri, INSTANCE).searchParams.get('q') ?? '';
          if (q.includes('ConvertedContactId IN')) conversionSoql = q;
          held.push(() => answer(null, [200, { totalSize: records.length, done: true, records }, JSON_TYPE]));
          if (held.length === 2) for (const release of held) release();
        });
    hold((q) => q.includes('FROM Contact WHERE Id IN'), contactRows);
    hold(
      (q) => q.includes('FROM Lead WHERE ConvertedContactId IN'),
      [record('Lead', { Id: LEAD, ConvertedContactId: CONTACT })],
    );
    const leads = await connector().readLeads([CONTACT, CONTACT2], []);
    scope.done();
    expect(conversionSoql).toBe(
      `SELECT Id, ConvertedContactId FROM Lead WHERE ConvertedContactId IN ('${CONTACT}', '${CONTACT2}')`,
    );
    expect(leads.get(CONTACT)?.convertedFrom).toBe(LEAD);
    expect(leads.get(CONTACT2)).toBeDefined();
    expect(leads.get(CONTACT2)?.convertedFrom).toBeUndefined();
  });

  it('reads the Contacts unmarked when the org hides ConvertedContactId from describe, asking nothing more', async () => {
    const scope = nock(INSTANCE);
    directory(scope, { territories: false });
    describe_(scope, 'Lead', LEAD_DESCRIBE);
    describe_(scope, 'Contact', CONTACT_DESCRIBE);
    // No interceptor for a Lead query: one would fail the read.
    query(scope, (q) => q.includes('FROM Contact WHERE Id IN'), contactRows);
    const leads = await connector().readLeads([CONTACT, CONTACT2], []);
    scope.done();
    expect([...leads.values()].map((l) => l.convertedFrom)).toEqual([undefined, undefined]);
  });

  it('reads the Contacts unmarked when the conversion query is refused (no Lead describe to ask)', async () => {
    const scope = nock(INSTANCE);
    directory(scope, { territories: false });
    scope
      .get(`${API}/sobjects/Lead/describe`)
      .reply(404, errorBody('NOT_FOUND', 'The requested resource does not exist'), JSON_TYPE);
    describe_(scope, 'Contact', CONTACT_DESCRIBE);
    query(scope, (q) => q.includes('FROM Contact WHERE Id IN'), contactRows);
    scope
      .get(`${API}/query`)
      .query((params) => String(params['q']).includes('ConvertedContactId IN'))
      .reply(
        400,
        errorBody('INVALID_FIELD', "No such column 'ConvertedContactId' on entity 'Lead'."),
        JSON_TYPE,
      );
    const leads = await connector().readLeads([CONTACT, CONTACT2], []);
    scope.done();
    expect(leads.size).toBe(2);
    expect([...leads.values()].map((l) => l.convertedFrom)).toEqual([undefined, undefined]);
  });
});

describe('accountFields', () => {
  it("lists the Lead's and Contact's fields, and as multi-valued their multi-select picklists but one the lead mapping reads", async () => {
    const scope = nock(INSTANCE);
    // Industry feeds the lead's industry, one value, though the org made it a multi-select.
    describe_(
      scope,
      'Lead',
      LEAD_DESCRIBE.map((f) => (f.name === 'Industry' ? { ...f, type: 'multipicklist' } : f)),
    );
    describe_(scope, 'Contact', [...CONTACT_DESCRIBE, { name: 'Segments__c', type: 'multipicklist' }]);
    const fields = await connector().accountFields();
    scope.done();
    expect(fields?.objects).toBe('Lead or Contact');
    expect(fields?.names.get('interests__c')).toBe('Interests__c');
    expect(fields?.names.get('segments__c')).toBe('Segments__c');
    expect(fields?.multiValued).toEqual(new Set(['interests__c', 'segments__c']));
  });
});

describe('prepare', () => {
  it('describes the batch’s objects and Task all at once; reading the batch afterwards describes nothing', async () => {
    const scope = nock(INSTANCE);
    const held: (() => void)[] = [];
    const fieldsOf: Record<string, string[]> = {
      Lead: LEAD_DESCRIBE.map((f) => f.name),
      Contact: CONTACT_DESCRIBE.map((f) => f.name),
      Task: ['Id', 'WhoId', 'OwnerId', 'Subject', 'Description', 'ActivityDate', 'Priority', 'Status'],
    };
    for (const [object, names] of Object.entries(fieldsOf))
      scope.get(`${API}/sobjects/${object}/describe`).reply((_uri, _body, answer) => {
        held.push(() =>
          answer(null, [
            200,
            { name: object, fields: names.map((name) => ({ name, type: 'string' })) },
            JSON_TYPE,
          ]),
        );
        // Every describe is answered only once all three are asked: one asked after another never is.
        if (held.length === 3) for (const release of held) release();
      });
    const c = connector();
    await c.prepare([LEAD, LEAD2, CONTACT, 'not-an-id']);
    scope.done();

    // The read that follows asks for the directory and the records, and no describe (no interceptor).
    const reads = nock(INSTANCE);
    directory(reads, { territories: false });
    query(reads, (q) => q.includes('FROM Lead WHERE Id IN'), [
      record('Lead', { Id: LEAD, Company: 'X', Email: 'x@x.io' }),
    ]);
    query(reads, (q) => q.includes('FROM Contact WHERE Id IN'), [
      record('Contact', { Id: CONTACT, Email: 'c@y.io' }),
    ]);
    const leads = await c.readLeads([LEAD, CONTACT], []);
    reads.done();
    expect([...leads.keys()].sort()).toEqual([CONTACT, LEAD].sort());
  });
});

describe('findAccountsByDomain', () => {
  it('finds accounts by Website and by name in one query, keeps only registrable-domain matches', async () => {
    const scope = nock(INSTANCE);
    directory(scope, { territories: false });
    let soql = '';
    query(
      scope,
      (q) => {
        soql = q;
        return q.startsWith('SELECT Id, Name, Website, OwnerId, Type FROM Account WHERE');
      },
      [
        record('Account', {
          Id: ACCOUNT,
          Name: 'Acme Inc',
          Website: 'https://www.acme.com',
          OwnerId: ADA,
          Type: 'Customer - Direct',
        }),
        record('Account', {
          Id: sfId('001', 2),
          Name: 'Acme Holdings',
          Website: null,
          OwnerId: BO,
          Type: 'Prospect',
        }),
        record('Account', {
          Id: sfId('001', 3),
          Name: 'Notacme',
          Website: 'notacme.com.evil.io',
          OwnerId: ADA,
          Type: null,
        }),
      ],
    );
    const found = await connector().findAccountsByDomain(['acme.com', "x%' OR Name LIKE '%"]);
    scope.done();
    expect(soql).toContain("Website LIKE '%acme.com%'");
    expect(soql).toContain("Name LIKE 'acme%'");
    // The hostile "domain" is one escaped pattern, not SOQL.
    expect(soql).toContain("Website LIKE '%x\\%\\' or name like \\'\\%%'");
    const accounts = found.get('acme.com') ?? [];
    expect(accounts.map((a) => a.name).sort()).toEqual(['Acme Holdings', 'Acme Inc']);
    expect(accounts.find((a) => a.name === 'Acme Inc')).toMatchObject({
      owner: 'ada@acme.io',
      type: 'customer',
      domains: ['acme.com'],
    });
  });

  it('refuses an answer whose records are not objects as not understood, naming where', async () => {
    const scope = nock(INSTANCE);
    directory(scope, { territories: false });
    query(scope, (q) => q.includes('FROM Account WHERE'), [
      record('Account', { Id: ACCOUNT, Name: 'Acme Inc' }),
      'Acme' as unknown as Record<string, unknown>,
    ]);
    await expect(connector().findAccountsByDomain(['acme.com'])).rejects.toMatchObject({
      kind: 'invalid',
      message: expect.stringMatching(
        /Account query answer not understood \(records\.1: expected a record object\)/,
      ),
    });
    scope.done();
  });
});

describe('directory', () => {
  it('lists users with time zones and managers, Lead queues by name and developer name, and territories with users', async () => {
    const scope = nock(INSTANCE);
    directory(scope);
    const c = connector();
    const d = await c.directory();
    const t = await c.territories();
    scope.done();
    expect(d.owners).toEqual([
      expect.objectContaining({
        id: ADA,
        senderId: ADA,
        email: 'ada@acme.io',
        active: true,
        timezone: 'Europe/London',
        managerId: BO,
      }),
      expect.objectContaining({ id: BO, email: 'bo@acme.io', active: false, timezone: 'America/Chicago' }),
    ]);
    expect(d.owners[1]).not.toHaveProperty('managerId');
    expect(d.queues).toEqual({ 'Inbound Triage': QUEUE, Inbound_Triage: QUEUE });
    // Queue members are known: a member's teams are the queues it works.
    expect(d.owners.map((o) => [o.email, o.teams])).toEqual([
      ['ada@acme.io', ['Inbound Triage']],
      ['bo@acme.io', []],
    ]);
    expect(t).toEqual([
      {
        id: TERRITORY,
        name: 'EMEA North',
        developerName: 'EMEA_North',
        parentId: undefined,
        users: [{ userId: ADA, role: 'Sales Rep' }],
      },
    ]);
  });
});

describe('query paging', () => {
  it('follows nextRecordsUrl (queryMore) on the versioned path until done', async () => {
    const scope = nock(INSTANCE);
    directory(scope, { pagedUsers: true });
    const d = await connector().directory();
    scope.done();
    expect(d.owners.map((o) => o.email)).toEqual(['ada@acme.io', 'bo@acme.io']);
  });
});

describe('setOwners', () => {
  it('sends one Collections PATCH with Sforce-Auto-Assign: FALSE, allowSave=true and our client id, and maps each record', async () => {
    let body: unknown;
    const scope = nock(INSTANCE, {
      reqheaders: {
        'sforce-auto-assign': 'FALSE',
        'sforce-duplicate-rule-header': 'allowSave=true',
        'sforce-call-options': 'client=lead-router',
        authorization: 'Bearer access-1',
      },
    })
      .patch(`${API}/composite/sobjects`, (b: unknown) => {
        body = b;
        return true;
      })
      .reply(
        200,
        [
          { id: LEAD, success: true, errors: [] },
          {
            success: false,
            errors: [
              {
                statusCode: 'INVALID_CROSS_REFERENCE_KEY',
                message: 'invalid cross reference id',
                fields: ['OwnerId'],
              },
            ],
          },
          {
            success: false,
            errors: [
              {
                statusCode: 'UNABLE_TO_LOCK_ROW',
                message: 'unable to obtain exclusive access to this record',
                fields: [],
              },
            ],
          },
        ],
        { ...JSON_TYPE, 'sforce-limit-info': 'api-usage=4100/5000' },
      );
    const usage: number[] = [];
    const c = connector({ onUsage: (u) => usage.push(u.used) });
    const results = await c.setOwners([
      { leadId: LEAD, ownerId: ADA },
      { leadId: LEAD2, ownerId: sfId('005', 77) },
      { leadId: CONTACT, ownerId: QUEUE },
      { leadId: sfId('003', 2), ownerId: BO },
    ]);
    scope.done();
    expect(body).toEqual({
      allOrNone: false,
      records: [
        { attributes: { type: 'Lead' }, id: LEAD, OwnerId: ADA },
        { attributes: { type: 'Lead' }, id: LEAD2, OwnerId: sfId('005', 77) },
        { attributes: { type: 'Contact' }, id: sfId('003', 2), OwnerId: BO },
      ],
    });
    expect(results[0]).toEqual({ ok: true, id: LEAD });
    expect(results[1]).toMatchObject({
      ok: false,
      error: {
        kind: 'invalid',
        message: 'invalid cross reference id (fields: OwnerId) [INVALID_CROSS_REFERENCE_KEY]',
      },
    });
    // A queue cannot own a Contact: refused here, never sent.
    expect(results[2]).toMatchObject({
      ok: false,
      error: { kind: 'invalid', message: expect.stringContaining('must be a user') },
    });
    expect(results[3]).toMatchObject({
      ok: false,
      error: { kind: 'transient', details: { code: 'UNABLE_TO_LOCK_ROW' } },
    });
    expect(c.apiUsage()).toEqual({ used: 4100, limit: 5000, at: 1_000 });
    expect(usage).toEqual([4100]);
  });

  it('sends the same record twice in two calls, never twice in one collection', async () => {
    const scope = nock(INSTANCE)
      .patch(`${API}/composite/sobjects`, (b: { records: unknown[] }) => b.records.length === 2)
      .reply(
        200,
        [
          { id: LEAD, success: true },
          { id: LEAD2, success: true },
        ],
        JSON_TYPE,
      )
      .patch(`${API}/composite/sobjects`, (b: { records: unknown[] }) => b.records.length === 1)
      .reply(200, [{ id: LEAD, success: true }], JSON_TYPE);
    const results = await connector().setOwners([
      { leadId: LEAD, ownerId: ADA },
      { leadId: LEAD2, ownerId: ADA },
      { leadId: LEAD, ownerId: BO },
    ]);
    scope.done();
    expect(results.every((r) => r.ok)).toBe(true);
  });

  it('a duplicate rule that blocks the save refuses that record, saying what to change in the org', async () => {
    const blocked = {
      statusCode: 'DUPLICATES_DETECTED',
      message: 'Use one of these records?',
      fields: [],
      duplicateResult: {
        allowSave: false,
        duplicateRule: 'Standard_Lead_Duplicate_Rule',
        duplicateRuleEntityType: 'Lead',
        errorMessage: 'Use one of these records?',
        matchResults: [],
      },
    };
    const scope = nock(INSTANCE)
      .patch(`${API}/composite/sobjects`)
      .reply(
        200,
        [
          { id: LEAD, success: true },
          { success: false, errors: [blocked] },
        ],
        JSON_TYPE,
      );
    const results = await connector().setOwners([
      { leadId: LEAD, ownerId: ADA },
      { leadId: LEAD2, ownerId: ADA },
    ]);
    scope.done();
    expect(results).toEqual([
      { ok: true, id: LEAD },
      {
        ok: false,
        error: expect.objectContaining({
          kind: 'invalid',
          message:
            'a duplicate rule of the org blocks saving this record (Use one of these records?): its action must allow the save, with or without an alert [DUPLICATES_DETECTED]',
        }) as unknown,
      },
    ]);
  });

  it('fails every record of a call refused as a whole, with the org limit as rate_limited for the day', async () => {
    const scope = nock(INSTANCE)
      .patch(`${API}/composite/sobjects`)
      .reply(403, errorBody('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'), JSON_TYPE);
    const results = await connector().setOwners([
      { leadId: LEAD, ownerId: ADA },
      { leadId: LEAD2, ownerId: ADA },
    ]);
    scope.done();
    for (const r of results)
      expect(r).toMatchObject({
        ok: false,
        error: { kind: 'rate_limited', details: { quotaExhausted: true } },
      });
  });

  it('does not resend a write that got a 5xx: its outcome is unknown', async () => {
    const scope = nock(INSTANCE)
      .patch(`${API}/composite/sobjects`)
      .reply(503, 'Service Unavailable', { 'content-type': 'text/plain' });
    const [result] = await connector().setOwners([{ leadId: LEAD, ownerId: ADA }]);
    scope.done();
    expect(result).toMatchObject({
      ok: false,
      error: { kind: 'transient', details: { outcomeUnknown: true } },
    });
  });
});

describe('tasks, notes and cadences', () => {
  it('creates 250 tasks in two Collections calls (200 + 50) with the documented Task fields', async () => {
    const taskFields = [
      'Id',
      'WhoId',
      'OwnerId',
      'Subject',
      'Description',
      'ActivityDate',
      'Priority',
      'Status',
      'ReminderDateTime',
      'IsReminderSet',
    ];
    const sizes: number[] = [];
    let first: Record<string, unknown> | undefined;
    const scope = nock(INSTANCE);
    describe_(
      scope,
      'Task',
      taskFields.map((name) => ({ name, type: 'string' })),
    );
    scope
      .post(`${API}/composite/sobjects`, (b: { records: Record<string, unknown>[] }) => {
        sizes.push(b.records.length);
        first ??= b.records[0];
        return true;
      })
      .times(2)
      .reply(
        200,
        (_uri, b) =>
          (b as { records: unknown[] }).records.map((_, i) => ({ id: sfId('00T', i + 1), success: true })),
        JSON_TYPE,
      );
    const due = Date.UTC(2026, 2, 3, 14, 30);
    const tasks = Array.from({ length: 250 }, (_, i) => ({
      leadId: LEAD,
      key: `k${i}`,
      ownerId: ADA,
      subject: 'Demo request from Navy Labs',
      body: 'Routed by rule 2',
      dueAt: due,
      priority: 'high' as const,
    }));
    const results = await connector().createTasks(tasks);
    scope.done();
    expect(sizes).toEqual([200, 50]);
    expect(results.filter((r) => r.ok)).toHaveLength(250);
    expect(first).toEqual({
      attributes: { type: 'Task' },
      WhoId: LEAD,
      OwnerId: ADA,
      Subject: 'Demo request from Navy Labs',
      Description: 'Routed by rule 2',
      ActivityDate: '2026-03-03',
      ReminderDateTime: '2026-03-03T14:30:00.000Z',
      IsReminderSet: true,
      Priority: 'High',
    });
  });

  it("sends the org's own Task picklist values: a renamed priority or status is left to the org's default, and a note's closed status is guessed by name when the org refuses its TaskStatus query", async () => {
    const bodies: Record<string, unknown>[][] = [];
    const scope = nock(INSTANCE);
    scope
      .get(`${API}/query`)
      .query((params) => String(params['q']).includes('FROM TaskStatus'))
      .reply(400, errorBody('INVALID_TYPE', "sObject type 'TaskStatus' is not supported."), JSON_TYPE);
    const picklist = (name: string, values: string[]) => ({
      name,
      type: 'picklist',
      picklistValues: [
        ...values.map((value, i) => ({ value, label: value, active: true, defaultValue: i === 0 })),
        { value: 'Not Started', label: 'Not Started', active: false, defaultValue: false },
      ],
    });
    scope
      .get(`${API}/sobjects/Task/describe`)
      .reply(
        200,
        {
          name: 'Task',
          fields: [
            { name: 'Subject', type: 'string' },
            picklist('Priority', ['Urgent', 'normal', 'Low']),
            picklist('Status', ['Open', 'Waiting', 'Done']),
          ],
        },
        JSON_TYPE,
      )
      .post(`${API}/composite/sobjects`, (b: { records: Record<string, unknown>[] }) => {
        bodies.push(b.records);
        return true;
      })
      .times(2)
      .reply(
        200,
        (_uri, b) => (b as { records: unknown[] }).records.map(() => ({ success: true })),
        JSON_TYPE,
      );
    const task = { leadId: LEAD, ownerId: ADA, subject: 's', body: 'b', dueAt: Date.UTC(2026, 2, 3) };
    const warnings: string[] = [];
    const c = connector({ log: { warn: (message) => warnings.push(message) } });
    await c.createTasks([
      { ...task, key: 'a', priority: 'high' },
      { ...task, key: 'b', priority: 'medium' },
    ]);
    await c.writeNotes([{ leadId: LEAD, key: 'n', text: 'why' }]);
    scope.done();
    const [tasks, notes] = bodies;
    // No "High" in this org (an inactive "Not Started" is none either): the org's default applies.
    expect(tasks?.map((t) => [t['Priority'], t['Status']])).toEqual([
      [undefined, undefined],
      ['normal', undefined],
    ]);
    // A note is a completed Task in the org's word for it, guessed among the usual names once refused.
    expect(notes?.[0]).toMatchObject({ Priority: 'normal', Status: 'Done' });
    await c.writeNotes([{ leadId: LEAD, key: 'n2', text: 'why' }]);
    // The refusal is kept and said once, for the connector's life.
    expect(warnings).toEqual([expect.stringContaining('refused its TaskStatus query')]);
  });

  it('writes notes as completed Tasks and reads them back by WhoId', async () => {
    const scope = nock(INSTANCE);
    describe_(scope, 'Task', [{ name: 'Subject', type: 'string' }]);
    query(
      scope,
      (q) => q === 'SELECT ApiName, IsClosed, IsDefault, SortOrder FROM TaskStatus',
      [
        ['Not Started', false, true, 1],
        ['In Progress', false, false, 2],
        ['Completed', true, false, 3],
      ].map(([ApiName, IsClosed, IsDefault, SortOrder]) =>
        record('TaskStatus', { Id: sfId('01J', Number(SortOrder)), ApiName, IsClosed, IsDefault, SortOrder }),
      ),
    );
    scope
      .post(
        `${API}/composite/sobjects`,
        (b: { records: Record<string, unknown>[] }) =>
          b.records[0]?.['Status'] === 'Completed' && b.records[0]?.['Subject'] === NOTE_SUBJECT,
      )
      .reply(200, [{ id: sfId('00T', 9), success: true }], JSON_TYPE);
    query(scope, (q) => q.includes(`FROM Task WHERE WhoId IN ('${LEAD}') AND Subject = '${NOTE_SUBJECT}'`), [
      record('Task', {
        Id: sfId('00T', 9),
        WhoId: LEAD,
        Description: 'rule 2 matched',
        CreatedDate: '2026-01-01T00:00:00.000+0000',
      }),
    ]);
    const c = connector();
    expect(await c.writeNotes([{ leadId: LEAD, key: 'n1', text: 'rule 2 matched' }])).toEqual([
      { ok: true, id: sfId('00T', 9) },
    ]);
    expect(await c.findNotes([LEAD])).toEqual(
      new Map([[LEAD, [{ id: sfId('00T', 9), body: 'rule 2 matched', at: Date.UTC(2026, 0, 1) }]]]),
    );
    scope.done();
  });

  const status = (ApiName: string, over: Partial<TaskStatusRow> = {}): TaskStatusRow => ({
    ApiName,
    IsClosed: false,
    IsDefault: false,
    SortOrder: null,
    ...over,
  });
  it.each<[string, TaskStatusRow[], string[] | undefined, string | undefined]>([
    [
      "Salesforce's defaults: Completed",
      [
        status('Not Started', { IsDefault: true, SortOrder: 1 }),
        status('In Progress', { SortOrder: 2 }),
        status('Completed', { IsClosed: true, SortOrder: 3 }),
      ],
      undefined,
      'Completed',
    ],
    [
      'the first closed one by SortOrder, not by answer order (gaps allowed)',
      [
        status('Done', { IsClosed: true, SortOrder: 9 }),
        status('Finished', { IsClosed: true, SortOrder: 4 }),
      ],
      undefined,
      'Finished',
    ],
    [
      'the default when it is closed',
      [
        status('Finished', { IsClosed: true, SortOrder: 1 }),
        status('Logged', { IsClosed: true, IsDefault: true, SortOrder: 2 }),
      ],
      undefined,
      'Logged',
    ],
    [
      'one the Task describe lists as inactive is skipped',
      [
        status('Completed', { IsClosed: true, SortOrder: 1 }),
        status('Finished', { IsClosed: true, SortOrder: 2 }),
      ],
      ['Open', 'Finished'],
      'Finished',
    ],
    [
      'without SortOrder, the order answered',
      [status('B', { IsClosed: true }), status('A', { IsClosed: true })],
      undefined,
      'B',
    ],
    ['none closed: the org default applies', [status('Open', { IsDefault: true })], undefined, undefined],
  ])("a note's closed status: %s", (_name, rows, active, expected) => {
    expect(closedTaskStatus(rows, active)).toBe(expected);
  });

  it('enrolls in batch through assignTargetToSalesCadence and reads isSuccess per input', async () => {
    let inputs: unknown;
    const scope = nock(INSTANCE)
      .post(`${API}/actions/standard/assignTargetToSalesCadence`, (b: { inputs: unknown }) => {
        inputs = b.inputs;
        return true;
      })
      .reply(
        200,
        [
          { actionName: 'assignTargetToSalesCadence', errors: null, isSuccess: true, outputValues: {} },
          {
            actionName: 'assignTargetToSalesCadence',
            errors: [
              { statusCode: 'INVALID_INPUT', message: 'The target is already in a cadence.', fields: [] },
            ],
            isSuccess: false,
            outputValues: null,
          },
        ],
        JSON_TYPE,
      );
    const cadence = sfId('77C', 1);
    const results = await connector().enroll([
      { leadId: LEAD, key: 'e1', sequenceId: cadence, senderId: ADA, senderEmail: 'ada@acme.io' },
      { leadId: LEAD2, key: 'e2', sequenceId: cadence, senderId: ADA, senderEmail: 'ada@acme.io' },
      { leadId: LEAD2, key: 'e3', sequenceId: cadence, senderId: 'nobody', senderEmail: 'x@acme.io' },
    ]);
    scope.done();
    expect(inputs).toEqual([
      { salesCadenceNameOrId: cadence, targetId: LEAD, userId: ADA },
      { salesCadenceNameOrId: cadence, targetId: LEAD2, userId: ADA },
    ]);
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]).toMatchObject({
      ok: false,
      error: {
        kind: 'invalid',
        message: 'The target is already in a cadence. [INVALID_INPUT]',
      },
    });
    expect(results[2]).toMatchObject({ ok: false, error: { kind: 'invalid' } });
  });

  it('finds existing tasks (not notes) of several leads in one query, and the running cadence tracker', async () => {
    const scope = nock(INSTANCE);
    describe_(
      scope,
      'Task',
      ['Id', 'Subject', 'ActivityDate', 'OwnerId', 'ReminderDateTime', 'IsReminderSet'].map((name) => ({
        name,
        type: 'string',
      })),
    );
    query(
      scope,
      (q) =>
        q.includes(
          `FROM Task WHERE WhoId IN ('${LEAD}', '${LEAD2}', '${CONTACT}') AND Subject != '${NOTE_SUBJECT}'`,
        ) && q.includes('ReminderDateTime'),
      [
        record('Task', {
          Id: sfId('00T', 1),
          WhoId: LEAD,
          Subject: 'Call',
          ActivityDate: '2026-03-03',
          ReminderDateTime: '2026-03-03T14:30:00.000+0000',
          OwnerId: ADA,
        }),
        // Filed under the id asked for, whichever form of it the org answers with.
        record('Task', {
          Id: sfId('00T', 2),
          WhoId: LEAD2.slice(0, 15),
          Subject: 'Email',
          ActivityDate: '2026-03-04',
        }),
      ],
    );
    query(scope, (q) => q.includes(`FROM ActionCadenceTracker WHERE TargetId = '${LEAD}'`), [
      record('ActionCadenceTracker', {
        Id: sfId('0sl', 1),
        ActionCadenceId: sfId('77C', 1),
        State: 'Running',
      }),
    ]);
    const c = connector();
    expect(await c.findTasks([LEAD, LEAD2, CONTACT])).toEqual(
      new Map([
        [LEAD, [{ id: sfId('00T', 1), subject: 'Call', dueAt: Date.UTC(2026, 2, 3, 14, 30), ownerId: ADA }]],
        [LEAD2, [{ id: sfId('00T', 2), subject: 'Email', dueAt: Date.UTC(2026, 2, 4) }]],
      ]),
    );
    expect(await c.findEnrollment(LEAD)).toEqual({ id: sfId('0sl', 1), sequenceId: sfId('77C', 1) });
    scope.done();
  });

  it('refuses a lookup with a malformed id before any call', async () => {
    await expect(connector().findTasks([LEAD, "00Q' OR Id != '"])).rejects.toMatchObject({ kind: 'invalid' });
    await expect(connector().findEnrollment('x')).rejects.toBeInstanceOf(CrmError);
  });
});

describe('touchedLeads', () => {
  const since = Date.UTC(2026, 0, 2);
  it('three queries for a chunk of leads: a task the owner completed counts, our own writes do not', async () => {
    const scope = nock(INSTANCE);
    const OTHER = sfId('00Q', 77);
    query(scope, (q) => q.includes('FROM Lead WHERE Id IN') && q.includes(LEAD) && q.includes(OTHER), [
      record('Lead', {
        Id: LEAD,
        OwnerId: ADA,
        LastModifiedById: INSTALLER,
        LastModifiedDate: '2026-01-03T00:00:00.000+0000',
      }),
      record('Lead', {
        Id: OTHER,
        OwnerId: ADA,
        LastModifiedById: INSTALLER,
        LastModifiedDate: '2026-01-03T00:00:00.000+0000',
      }),
    ]);
    query(
      scope,
      (q) => q.includes('FROM Task WHERE WhoId IN') && q.includes('LastModifiedDate >= 2026-01-02T00:00:00Z'),
      [
        record('Task', {
          WhoId: LEAD,
          CreatedById: INSTALLER,
          CreatedDate: '2026-01-02T01:00:00.000+0000',
          LastModifiedById: ADA,
          LastModifiedDate: '2026-01-02T02:00:00.000+0000',
          IsClosed: true,
        }),
        record('Task', {
          WhoId: OTHER,
          CreatedById: INSTALLER,
          CreatedDate: '2026-01-02T01:00:00.000+0000',
          LastModifiedById: INSTALLER,
          LastModifiedDate: '2026-01-02T02:00:00.000+0000',
          IsClosed: true,
        }),
      ],
    );
    query(scope, (q) => q.includes('FROM Event WHERE WhoId IN'), []);
    const got = await connector().touchedLeads(
      [
        { leadId: LEAD, since },
        { leadId: OTHER, since },
      ],
      ['activity', 'task_completed'],
    );
    scope.done();
    expect(got.get(LEAD)).toEqual({
      ownerId: ADA,
      touchedAt: Date.UTC(2026, 0, 2, 2),
      signal: 'task_completed',
    });
    expect(got.get(OTHER)).toEqual({ ownerId: ADA });
  });
});

const INSTALLER = sfId('005', 99);

describe('session', () => {
  it('refreshes on an expired session, stores the rotated refresh token, and sends the call again', async () => {
    const store = memoryStore();
    const api = nock(INSTANCE)
      .get(`${API}/query`)
      .query(true)
      .reply(401, errorBody('INVALID_SESSION_ID', 'Session expired or invalid'), JSON_TYPE);
    let form = '';
    const login = nock(LOGIN)
      .post('/services/oauth2/token', (b: string | Record<string, string>) => {
        form = typeof b === 'string' ? b : new URLSearchParams(b).toString();
        return true;
      })
      .reply(
        200,
        {
          access_token: 'access-2',
          refresh_token: 'refresh-2',
          instance_url: INSTANCE,
          id: `${LOGIN}/id/${tokens().orgId}/${INSTALLER}`,
          token_type: 'Bearer',
          issued_at: '1767225600000',
          signature: 'x',
          scope: 'api refresh_token id',
        },
        JSON_TYPE,
      );
    api
      .get(`${API}/query`)
      .query(true)
      .matchHeader('authorization', 'Bearer access-2')
      .reply(200, { totalSize: 1, done: true, records: [{ Id: ADA }] }, JSON_TYPE);
    const c = new SalesforceConnector({ session: session(store), sleep: noSleep });
    expect(await c.checkConnection()).toEqual({ ok: true });
    api.done();
    login.done();
    expect(new URLSearchParams(form).get('grant_type')).toBe('refresh_token');
    expect(new URLSearchParams(form).get('refresh_token')).toBe('refresh-1');
    expect(new URLSearchParams(form).has('code_verifier')).toBe(false);
    expect(store.saved.map((t) => [t.accessToken, t.refreshToken])).toEqual([['access-2', 'refresh-2']]);
  });

  it('refreshes once on an INVALID_SESSION_ID jsforce leaves alone, then answers auth', async () => {
    const store = memoryStore();
    const body = errorBody('INVALID_SESSION_ID', 'This session is not valid for use with the REST API');
    const api = nock(INSTANCE).get(`${API}/query`).query(true).times(2).reply(401, body, JSON_TYPE);
    const login = nock(LOGIN)
      .post('/services/oauth2/token')
      .reply(
        200,
        {
          access_token: 'access-2',
          instance_url: INSTANCE,
          id: `${LOGIN}/id/${tokens().orgId}/${INSTALLER}`,
        },
        JSON_TYPE,
      );
    const c = new SalesforceConnector({ session: session(store), sleep: noSleep });
    const result = await c.checkConnection();
    api.done();
    login.done();
    expect(result).toMatchObject({
      ok: false,
      error: { kind: 'auth', details: { code: 'INVALID_SESSION_ID' } },
    });
    // No rotation: the old refresh token is kept with the new access token.
    expect(store.saved.map((t) => [t.accessToken, t.refreshToken])).toEqual([['access-2', 'refresh-1']]);
  });

  it('answers auth when the refresh token was revoked', async () => {
    const api = nock(INSTANCE)
      .get(`${API}/query`)
      .query(true)
      .reply(401, errorBody('INVALID_SESSION_ID', 'Session expired or invalid'), JSON_TYPE);
    const login = nock(LOGIN)
      .post('/services/oauth2/token')
      .reply(400, { error: 'invalid_grant', error_description: 'expired access/refresh token' }, JSON_TYPE);
    const result = await connector().checkConnection();
    api.done();
    login.done();
    expect(result).toMatchObject({ ok: false, error: { kind: 'auth' } });
  });

  it.each([
    ['does not rotate: refused at once, the store looked at once', undefined, 30_000, 2],
    ['rotates: the store looked at again after it had a moment to settle', 'refresh-2', 1, 3],
  ])('a refresh refused after one that showed the app %s', async (_name, rotated, storeSettleMs, loads) => {
    const store = memoryStore();
    let loaded = 0;
    const counting = {
      ...store,
      load: (orgId: string) => {
        loaded += 1;
        return store.load(orgId);
      },
    };
    const expired = errorBody('INVALID_SESSION_ID', 'Session expired or invalid');
    const api = nock(INSTANCE)
      .get(`${API}/query`)
      .query(true)
      .reply(401, expired, JSON_TYPE)
      .get(`${API}/query`)
      .query(true)
      .reply(200, { totalSize: 1, done: true, records: [{ Id: ADA }] }, JSON_TYPE)
      .get(`${API}/query`)
      .query(true)
      .reply(401, expired, JSON_TYPE);
    const login = nock(LOGIN)
      .post('/services/oauth2/token')
      .reply(
        200,
        {
          access_token: 'access-2',
          ...(rotated === undefined ? {} : { refresh_token: rotated }),
          instance_url: INSTANCE,
          id: `${LOGIN}/id/${tokens().orgId}/${INSTALLER}`,
          token_type: 'Bearer',
          issued_at: '1767225600000',
          signature: 'x',
        },
        JSON_TYPE,
      )
      .post('/services/oauth2/token')
      .reply(400, { error: 'invalid_grant', error_description: 'expired access/refresh token' }, JSON_TYPE);
    const c = new SalesforceConnector({
      session: new SalesforceSession({ app: APP, tokens: tokens(), store: counting, storeSettleMs }),
      sleep: noSleep,
    });
    expect(await c.checkConnection()).toEqual({ ok: true });
    loaded = 0;
    expect(await c.checkConnection()).toMatchObject({ ok: false, error: { kind: 'auth' } });
    api.done();
    login.done();
    expect(loaded).toBe(loads);
  });

  it('retries a read that met a 503 and answers once it recovers', async () => {
    const slept: number[] = [];
    const scope = nock(INSTANCE)
      .get(`${API}/query`)
      .query(true)
      .reply(503, errorBody('SERVER_UNAVAILABLE', 'Server temporarily unavailable'), JSON_TYPE)
      .get(`${API}/query`)
      .query(true)
      .reply(200, { totalSize: 1, done: true, records: [{ Id: ADA }] }, JSON_TYPE);
    const c = new SalesforceConnector({
      session: session(),
      sleep: (ms) => (slept.push(ms), Promise.resolve()),
    });
    expect(await c.checkConnection()).toEqual({ ok: true });
    scope.done();
    expect(slept).toHaveLength(1);
  });
});
