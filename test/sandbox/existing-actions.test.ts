// findTasks / findNotes / findEnrollment end to end: HubSpotConnector on the real @hubspot/api-client
// against the sandbox CRM over HTTP. What the connector creates, it must find again on the same contact
// and on no other one.
import { HUBSPOT_BUCKETS } from '../../connectors/hubspot/profile.js';
import { Client } from '@hubspot/api-client';
import { HubSpotConnector } from '../../connectors/hubspot/connector.js';
import {
  createHubSpotSandbox,
  seedDemoPortal,
  type CrmObject,
  type DemoPortal,
  type HubSpotSandbox,
  type Owner,
} from '../../connectors/sandbox/index.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';

const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const limiters = new LimiterFactory({
  provider: 'hubspot-existing-actions-sandbox',
  buckets: HUBSPOT_BUCKETS,
});

let sandbox: HubSpotSandbox;
let url: string;
let portalId: number;
let demo: DemoPortal;
let connector: HubSpotConnector;
let client: Client;
let ada: Owner;

beforeAll(async () => {
  sandbox = createHubSpotSandbox({ seed: 5 });
  const portal = sandbox.createPortal();
  portalId = portal.portalId;
  demo = seedDemoPortal(portal, 5, { companies: 10 });
  ada = demo.owners[0]!;
  ({ url } = await sandbox.start());
  const token = sandbox.issueToken(portalId).token;
  connector = new HubSpotConnector({
    portalId: String(portalId),
    accessToken: token,
    basePath: url,
    limiter: limiters.forPortal(String(portalId)),
    now: () => NOW,
  });
  client = new Client({ accessToken: token, basePath: url, numberOfApiCallRetries: 0 });
});
afterAll(async () => {
  await sandbox.stop();
  await limiters.disconnectAll();
});

/** Raw client searches share the connector's search bucket, so the sandbox's 5/s limit is never hit. */
const searchTasks = (request: Parameters<Client['crm']['objects']['tasks']['searchApi']['doSearch']>[0]) =>
  limiters
    .forPortal(String(portalId))
    .schedule('search', () => client.crm.objects.tasks.searchApi.doSearch(request));

const contacts = (n: number): CrmObject[] => demo.createContacts(n, 'import');

const task = (leadId: string, subject: string, dueAt: number) => ({
  leadId,
  ownerId: ada.id,
  subject,
  body: 'Routed to you by lead-router',
  dueAt,
  priority: 'high' as const,
  key: `task:${leadId}:${subject}`,
});

describe('findTasks', () => {
  it('finds the tasks created on a contact, and only that contact’s', async () => {
    const [a, b, none] = contacts(3).map((c) => c.id) as [string, string, string];
    const due1 = Date.parse('2026-11-26T14:00:00.000Z');
    const due2 = Date.parse('2026-11-27T09:30:00.000Z');
    const created = await connector.createTasks([
      task(a, 'New EMEA lead: BritCo Ltd', due1),
      task(b, 'Demo request from Globex', due1),
      task(a, 'Second look', due2),
    ]);
    const ids = created.map((r) => (r.ok ? r.id : undefined));
    expect(ids.every((id) => id !== undefined)).toBe(true);

    const found = await connector.findTasks([a, b, none]);
    expect([...found.keys()]).toEqual([a, b]);
    expect(found.get(a)?.sort((x, y) => x.dueAt - y.dueAt)).toEqual([
      { id: ids[0], subject: 'New EMEA lead: BritCo Ltd', dueAt: due1, ownerId: ada.id },
      { id: ids[2], subject: 'Second look', dueAt: due2, ownerId: ada.id },
    ]);
    expect(found.get(b)).toEqual([
      { id: ids[1], subject: 'Demo request from Globex', dueAt: due1, ownerId: ada.id },
    ]);
  });

  it('a contact with 505 tasks gets all of them: a second page of associations, records 100 a call', async () => {
    const [a] = contacts(1).map((c) => c.id) as [string];
    const many = Array.from({ length: 505 }, (_, i) => task(a, `Task ${i}`, NOW + i * 60_000));
    const created = await connector.createTasks(many);
    expect(created.filter((r) => r.ok)).toHaveLength(505);
    const found = (await connector.findTasks([a])).get(a) ?? [];
    expect(found).toHaveLength(505);
    expect(new Set(found.map((t) => t.subject))).toEqual(new Set(many.map((t) => t.subject)));
  });
});

describe('findNotes', () => {
  it('finds the notes written on a contact, and only that contact’s', async () => {
    const [a, b, none] = contacts(3).map((c) => c.id) as [string, string, string];
    const written = await connector.writeNotes([
      { leadId: a, ownerId: ada.id, text: 'Routed: Enterprise demo requests in DACH', key: `note:${a}` },
      { leadId: b, text: 'Routed: fallback', key: `note:${b}` },
    ]);
    const ids = written.map((r) => (r.ok ? r.id : undefined));
    expect(ids.every((id) => id !== undefined)).toBe(true);

    await expect(connector.findNotes([a, b, none])).resolves.toEqual(
      new Map([
        [a, [{ id: ids[0], body: 'Routed: Enterprise demo requests in DACH', at: NOW }]],
        [b, [{ id: ids[1], body: 'Routed: fallback', at: NOW }]],
      ]),
    );
  });
});

describe('findEnrollment', () => {
  it('finds the enrollment made for a contact; another contact has none', async () => {
    const [a, none] = contacts(2).map((c) => c.id) as [string, string];
    const sequence = [...sandbox.portal(portalId).sequences.values()][0]!;
    const [res] = await connector.enroll([
      {
        leadId: a,
        key: `enroll-${a}`,
        sequenceId: sequence.id,
        senderId: String(ada.userId),
        senderEmail: ada.email,
      },
    ]);
    expect(res?.ok).toBe(true);
    const id = res?.ok === true ? res.id : undefined;
    expect(id).toBeDefined();

    await expect(connector.findEnrollment(a)).resolves.toEqual({ id, sequenceId: sequence.id });
    await expect(connector.findEnrollment(none)).resolves.toBeUndefined();
  });
});

describe('sandbox search by association, as HubSpot', () => {
  it('IN on associations.contact returns the tasks of every listed contact', async () => {
    const [a, b, c] = contacts(3).map((x) => x.id) as [string, string, string];
    const created = await connector.createTasks([task(a, 'A', NOW), task(b, 'B', NOW), task(c, 'C', NOW)]);
    const ids = created.map((r) => (r.ok ? r.id : ''));
    const res = await searchTasks({
      filterGroups: [
        { filters: [{ propertyName: 'associations.contact', operator: 'IN' as never, values: [a, c] }] },
      ],
      properties: ['hs_task_subject'],
      limit: 10,
    });
    expect(res.results.map((t) => t.id).sort()).toEqual([ids[0], ids[2]].sort());
  });

  it.each([
    ['a plural object type', { propertyName: 'associations.contacts', operator: 'EQ', value: '101' }],
    [
      'an operator a set of ids cannot take',
      { propertyName: 'associations.contact', operator: 'GT', value: '1' },
    ],
  ])('refuses %s with 400 VALIDATION_ERROR', async (_name, filter) => {
    await expect(
      searchTasks({ filterGroups: [{ filters: [filter as never] }], limit: 10 }),
    ).rejects.toMatchObject({ code: 400, body: { category: 'VALIDATION_ERROR' } });
  });
});
