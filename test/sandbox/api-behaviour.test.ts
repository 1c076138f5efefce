// What HubSpot does that a quick reading of its contract misses, reproduced by the sandbox for the real
// @hubspot/api-client: search lags creates, batch answers carry each input's objectWriteTraceId (in no
// promised order), events of a traced write echo the trace id, and a write can be applied while its
// answer is lost.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@hubspot/api-client';
import {
  createHubSpotSandbox,
  ManualClock,
  seedDemoPortal,
  type HubSpotSandbox,
} from '../../connectors/sandbox/index.js';

const T0 = Date.parse('2026-12-01T09:00:00.000Z');

describe('sandbox API behaviour', () => {
  let sandbox: HubSpotSandbox;
  let url: string;
  let client: Client;
  let clock: ManualClock;
  let contactIds: string[];
  let portalId: number;

  beforeAll(async () => {
    clock = new ManualClock(T0);
    sandbox = createHubSpotSandbox({ seed: 9, clock });
    const portal = sandbox.createPortal();
    portalId = portal.portalId;
    const demo = seedDemoPortal(portal, 9, { companies: 5 });
    contactIds = demo.createContacts(6, 'import').map((c) => c.id);
    ({ url } = await sandbox.start());
    client = new Client({ accessToken: sandbox.issueToken(portal.portalId).token, basePath: url });
  });
  afterAll(() => sandbox.stop());
  afterEach(() => {
    sandbox.behaviour.searchLagMs = 0;
    sandbox.behaviour.shuffleBatchResults = false;
  });

  const taskInput = (contactId: string, trace: string) => ({
    objectWriteTraceId: trace,
    properties: { hs_timestamp: new Date(T0).toISOString(), hs_task_subject: `Call ${contactId}` },
    associations: [
      {
        to: { id: contactId },
        types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 204 }],
      },
    ],
  });
  const create = (inputs: ReturnType<typeof taskInput>[]) =>
    client.apiRequest({ method: 'POST', path: '/crm/v3/objects/tasks/batch/create', body: { inputs } });
  const tasksOf = async (contactId: string): Promise<string[]> => {
    const res = await client.apiRequest({
      method: 'POST',
      path: '/crm/v3/objects/tasks/search',
      body: {
        filterGroups: [
          { filters: [{ propertyName: 'associations.contact', operator: 'EQ', value: contactId }] },
        ],
      },
    });
    return ((await res.json()) as { results: { id: string }[] }).results.map((r) => r.id);
  };

  it('search finds a created record only once the search lag has passed', async () => {
    sandbox.behaviour.searchLagMs = 3_000;
    const contact = contactIds[0]!;
    const res = await create([taskInput(contact, 'lag-1')]);
    const [task] = ((await res.json()) as { results: { id: string }[] }).results;
    // Readable by id at once, invisible to search until the index catches up.
    expect((await client.crm.objects.tasks.basicApi.getById(task!.id)).id).toBe(task!.id);
    expect(await tasksOf(contact)).toEqual([]);
    clock.advance(2_999);
    expect(await tasksOf(contact)).toEqual([]);
    clock.advance(1);
    expect(await tasksOf(contact)).toEqual([task!.id]);
  });

  it('a search pinned to record ids answers as a full search would (ids as numbers, other filters kept)', async () => {
    const [a, b, c] = contactIds as [string, string, string];
    const search = async (filterGroups: unknown[]): Promise<string[]> => {
      clock.advance(1_000); // past the 5 searches a second
      const res = await client.apiRequest({
        method: 'POST',
        path: '/crm/v3/objects/contacts/search',
        body: { filterGroups, properties: ['email'], limit: 100 },
      });
      if (res.status !== 200) throw new Error(await res.text());
      return ((await res.json()) as { results: { id: string }[] }).results.map((r) => r.id);
    };
    const pin = (values: string[]) => ({ propertyName: 'hs_object_id', operator: 'IN', values });
    expect(await search([{ filters: [pin([c, `00${a}`, '999999'])] }])).toEqual([a, c]);
    expect(
      await search([
        { filters: [pin([a, b]), { propertyName: 'email', operator: 'NEQ', value: 'nobody@x.example' }] },
        { filters: [{ propertyName: 'hs_object_id', operator: 'EQ', value: c }] },
      ]),
    ).toEqual([a, b, c]);
    // A group without a pin searches every record.
    const everyone = await search([{ filters: [{ propertyName: 'email', operator: 'HAS_PROPERTY' }] }]);
    expect(
      await search([
        { filters: [pin([a])] },
        { filters: [{ propertyName: 'email', operator: 'HAS_PROPERTY' }] },
      ]),
    ).toEqual(everyone);
  });

  it('a contact email is unique on create, also after another contact’s email changed', () => {
    const portal = sandbox.portal(portalId);
    const one = portal.createObject('contacts', { email: 'Moved@Unique.example' }, 'import');
    expect(() => portal.createObject('contacts', { email: 'moved@unique.example' }, 'import')).toThrow(
      /Contact already exists. Existing ID: /,
    );
    portal.updateObject('contacts', one.id, { email: 'new@unique.example' }, 'admin');
    expect(portal.createObject('contacts', { email: 'moved@unique.example' }, 'import').id).not.toBe(one.id);
    expect(() => portal.createObject('contacts', { email: 'NEW@unique.example' }, 'import')).toThrow(
      `Existing ID: ${one.id}`,
    );
  });

  it('echoes each input’s objectWriteTraceId on its result, in shuffled order when asked', async () => {
    sandbox.behaviour.shuffleBatchResults = true;
    const inputs = contactIds.map((c) => taskInput(c, `trace-${c}`));
    const res = await create(inputs);
    expect(res.status).toBe(201);
    const { results } = (await res.json()) as { results: { id: string; objectWriteTraceId?: string }[] };
    expect(results.map((r) => r.objectWriteTraceId).sort()).toEqual(
      inputs.map((i) => i.objectWriteTraceId).sort(),
    );
    // The order is not the request's, so only the trace id ties a result to its input.
    expect(results.map((r) => r.objectWriteTraceId)).not.toEqual(inputs.map((i) => i.objectWriteTraceId));
    for (const r of results) {
      const contact = r.objectWriteTraceId!.slice('trace-'.length);
      const tasks = sandbox.writes.list({ kind: 'association.created', objectId: r.id });
      expect(tasks.some((w) => w.details['toId'] === contact)).toBe(true);
    }
  });

  it('a lost answer: the create is applied, the caller sees only a dropped connection', async () => {
    const contact = contactIds[1]!;
    const before = sandbox.writes.list({ kind: 'task.created' }).length;
    sandbox.faults.failNext('lost', 1, '/crm/v3/objects/tasks/batch/create');
    await expect(create([taskInput(contact, 'lost-1')])).rejects.toThrow();
    expect(sandbox.writes.list({ kind: 'task.created' })).toHaveLength(before + 1);
  });

  it('events caused by a traced write carry its objectWriteTraceId', async () => {
    const received: Record<string, unknown>[] = [];
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(...(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>[]));
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    sandbox.configureWebhooks(portalId, {
      targetUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
      clientSecret: 's',
      appId: 1,
      subscriptions: [{ subscriptionType: 'contact.propertyChange', propertyName: 'lifecyclestage' }],
    });
    try {
      await client.crm.contacts.batchApi.update({
        inputs: [
          { id: contactIds[2]!, properties: { lifecyclestage: 'lead' }, objectWriteTraceId: 'w-1' },
          { id: contactIds[3]!, properties: { lifecyclestage: 'lead' } },
        ],
      });
      await sandbox.webhooks.idle();
      expect(received).toEqual([
        expect.objectContaining({ objectId: Number(contactIds[2]), objectWriteTraceId: 'w-1' }),
        expect.not.objectContaining({ objectWriteTraceId: expect.anything() as unknown }),
      ]);
    } finally {
      sandbox.configureWebhooks(portalId, undefined);
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
