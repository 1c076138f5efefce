import { Client } from '@hubspot/api-client';
import {
  createHubSpotSandbox,
  seedDemoPortal,
  DEMO_OWNERS,
  DEMO_TEAMS,
  ensureTeams,
  type HubSpotSandbox,
} from '../../connectors/sandbox/index.js';

describe('sandbox with the real @hubspot/api-client', () => {
  let sandbox: HubSpotSandbox;
  let url: string;
  let client: Client;
  let portalId: number;
  let demo: ReturnType<typeof seedDemoPortal>;

  beforeAll(async () => {
    sandbox = createHubSpotSandbox({ seed: 1 });
    const portal = sandbox.createPortal();
    portalId = portal.portalId;
    demo = seedDemoPortal(portal, 3, { companies: 50 });
    demo.createContacts(30, 'import');
    ({ url } = await sandbox.start());
    client = new Client({ accessToken: sandbox.issueToken(portalId).token, basePath: url });
  });
  afterAll(() => sandbox.stop());
  beforeEach(() => sandbox.reset());

  it('pages owners, keeps userId distinct from id and hides archived owners unless asked', async () => {
    const first = await client.crm.owners.ownersApi.getPage(undefined, undefined, 5);
    expect(first.results).toHaveLength(5);
    const second = await client.crm.owners.ownersApi.getPage(undefined, first.paging!.next!.after, 100);
    const active = [...first.results, ...second.results];
    expect(active).toHaveLength(DEMO_OWNERS.filter((o) => !o.archived).length);
    expect(active[0]!.id).not.toBe(String(active[0]!.userId));
    const archived = await client.crm.owners.ownersApi.getPage(undefined, undefined, 100, true);
    expect(archived.results.map((o) => o.email)).toEqual(['quinn@acme.io']);
    expect(archived.results[0]!.userId).toBeNull();
  });

  it('creates, reads, updates contacts and logs exactly one owner set', async () => {
    const owner = demo.owners[0]!;
    const created = await client.crm.contacts.basicApi.create({
      properties: { email: 'x.y@blue.example', firstname: 'X' },
      associations: [],
    });
    const got = await client.crm.contacts.basicApi.getById(created.id, ['email', 'firstname']);
    expect(got.properties['email']).toBe('x.y@blue.example');
    await client.crm.contacts.batchApi.update({
      inputs: [{ id: created.id, properties: { hubspot_owner_id: owner.id } }],
    });
    await client.crm.contacts.batchApi.update({
      inputs: [{ id: created.id, properties: { hubspot_owner_id: owner.id } }],
    });
    const read = await client.crm.contacts.batchApi.read({
      inputs: [{ id: created.id }],
      properties: ['hubspot_owner_id'],
      propertiesWithHistory: [],
    });
    expect(read.results[0]!.properties['hubspot_owner_id']).toBe(owner.id);
    expect(sandbox.writes.list({ kind: 'owner.set', objectId: created.id })).toHaveLength(1);
    const res = await fetch(`${url}/_sandbox/writes?kind=contact.created&source=api`);
    const body = (await res.json()) as { results: { objectId: string }[] };
    expect(body.results.map((r) => r.objectId)).toEqual([created.id]);
  });

  it('sets a contact’s team (hubspot_team_id) to a team of the portal, logs it once, refuses any other', async () => {
    const contact = demo.createContacts(1)[0]!;
    const emea = DEMO_TEAMS.EMEA;
    for (let i = 0; i < 2; i++)
      await client.crm.contacts.batchApi.update({
        inputs: [{ id: contact.id, properties: { hubspot_team_id: emea } }],
      });
    expect(sandbox.writes.list({ kind: 'team.set', objectId: contact.id }).map((w) => w.details)).toEqual([
      { from: '', to: emea },
    ]);
    await expect(
      client.crm.contacts.basicApi.update(contact.id, { properties: { hubspot_team_id: '999999' } }),
    ).rejects.toMatchObject({ code: 400, body: { category: 'VALIDATION_ERROR' } });
  });

  it('gives the portal the teams a rule set names (ensureTeams), listed through an owner', async () => {
    const portal = sandbox.portal(portalId);
    ensureTeams(portal, ['Inbound', 'EMEA', DEMO_TEAMS.NA]);
    const page = await client.crm.owners.ownersApi.getPage(undefined, undefined, 100);
    const teams = page.results.flatMap((o) => o.teams ?? []);
    expect(teams.filter((t) => t.name === 'Inbound')).toHaveLength(1);
    expect(teams.filter((t) => t.name === 'EMEA').map((t) => t.id)).toEqual(
      expect.arrayContaining([DEMO_TEAMS.EMEA]),
    );
    const inbound = teams.find((t) => t.name === 'Inbound')!.id;
    const contact = demo.createContacts(1)[0]!;
    await client.crm.contacts.basicApi.update(contact.id, { properties: { hubspot_team_id: inbound } });
    expect(sandbox.writes.list({ kind: 'team.set', objectId: contact.id })).toHaveLength(1);
  });

  it('lists a QUEUE owner, which can own a contact', async () => {
    const portal = sandbox.portal(portalId);
    const queue = portal.addOwner({
      email: '',
      firstName: 'Inbound',
      lastName: 'Queue',
      type: 'QUEUE',
      teams: [],
      archived: false,
      salesSeat: false,
      connectedInboxes: [],
    });
    const page = await client.crm.owners.ownersApi.getPage(undefined, undefined, 100);
    expect(page.results.find((o) => o.id === queue.id)?.type).toBe('QUEUE');
    const contact = demo.createContacts(1)[0]!;
    await client.crm.contacts.basicApi.update(contact.id, { properties: { hubspot_owner_id: queue.id } });
    expect(
      sandbox.writes.list({ kind: 'owner.set', objectId: contact.id }).map((w) => w.details['to']),
    ).toEqual([queue.id]);
  });

  it('rejects an owner id that is a userId', async () => {
    const owner = demo.owners[0]!;
    const contact = demo.createContacts(1)[0]!;
    await expect(
      client.crm.contacts.basicApi.update(contact.id, {
        properties: { hubspot_owner_id: String(owner.userId) },
      }),
    ).rejects.toMatchObject({ code: 400, body: { category: 'VALIDATION_ERROR' } });
  });

  it('answers more than 100 batch inputs with a 400 validation error', async () => {
    const inputs = Array.from({ length: 101 }, (_, i) => ({
      properties: { email: `b${i}@x.example` },
      associations: [],
    }));
    await expect(client.crm.contacts.batchApi.create({ inputs })).rejects.toMatchObject({
      code: 400,
      body: { category: 'VALIDATION_ERROR' },
    });
    expect(sandbox.writes.list({ kind: 'contact.created', source: 'api' })).toHaveLength(0);
  });

  it.each([
    [
      'EQ',
      { propertyName: 'country', operator: 'EQ', value: 'DE' },
      (p: Record<string, string | null>) => p['country'] === 'DE',
    ],
    [
      'IN',
      { propertyName: 'country', operator: 'IN', values: ['US', 'AT'] },
      (p: Record<string, string | null>) => ['US', 'AT'].includes(p['country'] ?? ''),
    ],
    [
      'HAS_PROPERTY',
      { propertyName: 'hubspot_owner_id', operator: 'HAS_PROPERTY' },
      (p: Record<string, string | null>) => p['hubspot_owner_id'] !== null,
    ],
    [
      'NOT_HAS_PROPERTY',
      { propertyName: 'hubspot_owner_id', operator: 'NOT_HAS_PROPERTY' },
      (p: Record<string, string | null>) => p['hubspot_owner_id'] === null,
    ],
    [
      'GTE',
      { propertyName: 'numberofemployees', operator: 'GTE', value: '1000' },
      (p: Record<string, string | null>) => Number(p['numberofemployees']) >= 1000,
    ],
  ])('searches companies with %s', async (_name, filter, check) => {
    const res = await client.crm.companies.searchApi.doSearch({
      filterGroups: [{ filters: [filter as never] }],
      properties: ['country', 'hubspot_owner_id', 'numberofemployees'],
      limit: 200,
      sorts: [],
    });
    expect(res.total).toBeGreaterThan(0);
    expect(res.results.every((r) => check(r.properties))).toBe(true);
    const all = demo.companies.filter((c) =>
      check({ country: null, hubspot_owner_id: null, numberofemployees: null, ...c.properties }),
    );
    expect(res.total).toBe(all.length);
  });

  it('pages contact search and rejects limit > 200', async () => {
    const page1 = await client.crm.contacts.searchApi.doSearch({
      filterGroups: [],
      limit: 10,
      after: '0',
      sorts: [],
      properties: [],
    });
    expect(page1.results).toHaveLength(10);
    expect(page1.paging?.next?.after).toBe('10');
    await expect(
      client.crm.contacts.searchApi.doSearch({
        filterGroups: [],
        limit: 201,
        after: '0',
        sorts: [],
        properties: [],
      }),
    ).rejects.toMatchObject({ code: 400 });
  });

  it('associates contacts and companies (v4) and creates tasks and notes with associations', async () => {
    const contact = demo.createContacts(1)[0]!;
    const company = demo.companies[0]!;
    await client.crm.associations.v4.basicApi.createDefault('contacts', contact.id, 'companies', company.id);
    const page = await client.crm.associations.v4.basicApi.getPage('contacts', contact.id, 'companies');
    expect(page.results.map((r) => String(r.toObjectId))).toContain(company.id);
    const tasks = await client.crm.objects.tasks.batchApi.create({
      inputs: [
        {
          properties: {
            hs_timestamp: '2026-01-05T10:00:00Z',
            hs_task_subject: 'Call',
            hubspot_owner_id: demo.owners[0]!.id,
          },
          associations: [
            {
              to: { id: contact.id },
              types: [{ associationCategory: 'HUBSPOT_DEFINED' as never, associationTypeId: 204 }],
            },
          ],
        },
      ],
    });
    const taskId = tasks.results[0]!.id;
    const back = await client.crm.associations.v4.basicApi.getPage('contacts', contact.id, 'tasks');
    expect(back.results.map((r) => String(r.toObjectId))).toEqual([taskId]);
    await expect(
      client.crm.objects.tasks.basicApi.create({
        properties: { hs_task_subject: 'no due' },
        associations: [],
      }),
    ).rejects.toMatchObject({ code: 400, body: { category: 'VALIDATION_ERROR' } });
    await client.crm.objects.notes.basicApi.create({
      properties: { hs_timestamp: '2026-01-05T10:00:00Z', hs_note_body: 'Routed because...' },
      associations: [
        {
          to: { id: contact.id },
          types: [{ associationCategory: 'HUBSPOT_DEFINED' as never, associationTypeId: 202 }],
        },
      ],
    });
    expect(sandbox.writes.list({ kind: 'task.created' })).toHaveLength(1);
    expect(sandbox.writes.list({ kind: 'note.created' })).toHaveLength(1);
  });

  it('lists sequences and enrolls once; refuses a second enrollment, missing seat and unconnected inbox', async () => {
    const [ada, , chloe, dev] = demo.owners;
    const list = await client.apiRequest({
      method: 'GET',
      path: '/automation/v4/sequences',
      qs: { userId: String(ada!.userId) },
    });
    const seqs = (await list.json()) as { results: { id: string }[] };
    const sequenceId = seqs.results[0]!.id;
    const contact = demo.createContacts(1)[0]!;
    const enroll = (userId: number, senderEmail: string) =>
      client.apiRequest({
        method: 'POST',
        path: '/automation/v4/sequences/enrollments',
        qs: { userId: String(userId) },
        body: { sequenceId, contactId: contact.id, senderEmail },
      });
    expect((await enroll(ada!.userId, ada!.email)).status).toBe(200);
    const again = await enroll(ada!.userId, ada!.email);
    expect(again.status).toBe(400);
    expect(((await again.json()) as { subCategory: string }).subCategory).toBe('CONTACT_ALREADY_ENROLLED');
    expect((await enroll(dev!.userId, dev!.email)).status).toBe(403);
    const inbox = await enroll(chloe!.userId, chloe!.email);
    expect(((await inbox.json()) as { message: string }).message).toMatch(/connected/);
    expect(sandbox.writes.list({ kind: 'enrollment.created' })).toHaveLength(1);
  });

  it('answers 429 TEN_SECONDLY_ROLLING with rate-limit headers once the window is spent', async () => {
    sandbox.rateLimiter.configure({ max: 3 });
    const raw = new Client({
      accessToken: sandbox.issueToken(portalId).token,
      basePath: url,
      numberOfApiCallRetries: 0,
    });
    for (let i = 0; i < 3; i++) await raw.crm.owners.ownersApi.getPage();
    const err = (await raw.crm.owners.ownersApi.getPage().catch((e: unknown) => e)) as {
      code: number;
      body: { policyName: string; errorType: string };
      headers: Record<string, string>;
    };
    expect(err.code).toBe(429);
    expect(err.body).toMatchObject({ policyName: 'TEN_SECONDLY_ROLLING', errorType: 'RATE_LIMIT' });
    expect(err.headers['x-hubspot-ratelimit-max']).toBe('3');
    expect(err.headers['x-hubspot-ratelimit-remaining']).toBe('0');
    sandbox.rateLimiter.configure({ max: 110 });
  });

  it("lists the portal's contact properties with type and fieldType, a declared multiple checkbox among them", async () => {
    demo.portal.customContactProperties.set('interests', 'checkbox');
    try {
      const schemas = new Client({
        accessToken: sandbox.issueToken(portalId, ['oauth', 'crm.schemas.contacts.read']).token,
        basePath: url,
      });
      const { results } = await schemas.crm.properties.coreApi.getAll('contacts');
      const byName = new Map(results.map((p) => [p.name, p]));
      expect(byName.get('interests')).toMatchObject({ type: 'enumeration', fieldType: 'checkbox' });
      expect(byName.get('demo_requested')).toMatchObject({ type: 'string', fieldType: 'text' });
      expect(byName.get('industry')).toMatchObject({ type: 'enumeration', fieldType: 'select' });
    } finally {
      demo.portal.customContactProperties.delete('interests');
    }
  });

  it('rejects a missing or unknown token with 401', async () => {
    const bad = new Client({ accessToken: 'nope', basePath: url });
    await expect(bad.crm.owners.ownersApi.getPage()).rejects.toMatchObject({
      code: 401,
      body: { category: 'INVALID_AUTHENTICATION' },
    });
  });

  it('runs the OAuth install: authorize redirect, code exchange, introspection, refresh', async () => {
    const auth = await fetch(
      `${url}/oauth/authorize?client_id=sandbox-client-id&redirect_uri=${encodeURIComponent('http://localhost:3000/cb')}&scope=oauth%20crm.objects.owners.read&state=s1`,
      { redirect: 'manual' },
    );
    const loc = new URL(auth.headers.get('location')!);
    expect(loc.searchParams.get('state')).toBe('s1');
    const form = (extra: Record<string, string>) =>
      fetch(`${url}/oauth/2026-03/token${extra['token'] === undefined ? '' : '/introspect'}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: 'sandbox-client-id',
          client_secret: 'sandbox-client-secret',
          ...extra,
        }).toString(),
      });
    const tok = (await (
      await form({
        grant_type: 'authorization_code',
        code: loc.searchParams.get('code')!,
        redirect_uri: 'http://localhost:3000/cb',
      })
    ).json()) as { access_token: string; refresh_token: string; expires_in: number };
    expect(tok.expires_in).toBe(1800);
    const info = (await (await form({ token: tok.access_token })).json()) as { hub_id: number };
    expect(info.hub_id).toBe(portalId);
    const reused = await form({
      grant_type: 'authorization_code',
      code: loc.searchParams.get('code')!,
      redirect_uri: 'http://localhost:3000/cb',
    });
    expect(await reused.json()).toMatchObject({ status: 'BAD_AUTH_CODE', error: 'invalid_grant' });
    const refreshed = await form({ grant_type: 'refresh_token', refresh_token: tok.refresh_token });
    expect(refreshed.status).toBe(200);
    const scoped = new Client({ accessToken: tok.access_token, basePath: url });
    await expect(scoped.crm.contacts.basicApi.getPage()).rejects.toMatchObject({
      code: 403,
      body: { category: 'MISSING_SCOPES' },
    });
  });
});
