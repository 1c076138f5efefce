// The same CRM faults against the sandbox CRM over HTTP, with the real @hubspot/api-client: a deactivated
// owner makes the sandbox refuse a whole batch (400, naming no input, as HubSpot's property validation
// does), and an injected hang is cut by the connector's timeout. The write log shows what was applied.
import { HUBSPOT_BUCKETS } from '../../../connectors/hubspot/profile.js';
import { HubSpotConnector } from '../../../connectors/hubspot/connector.js';
import { outcomeUnknown } from '../../../connectors/hubspot/errors.js';
import {
  createHubSpotSandbox,
  seedDemoPortal,
  type DemoPortal,
  type HubSpotSandbox,
  type Owner,
} from '../../../connectors/sandbox/index.js';
import { LimiterFactory } from '../../../connectors/shared/limiter.js';

const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const limiters = new LimiterFactory({ provider: 'hubspot-batch-faults-sandbox', buckets: HUBSPOT_BUCKETS });

let sandbox: HubSpotSandbox;
let url: string;
let portalId: number;
let demo: DemoPortal;
let token: string;
let active: Owner;
let gone: Owner;

beforeAll(async () => {
  sandbox = createHubSpotSandbox({ seed: 11 });
  const portal = sandbox.createPortal();
  portalId = portal.portalId;
  demo = seedDemoPortal(portal, 11, { companies: 5 });
  [active, gone] = demo.owners.filter((o) => !o.archived) as [Owner, Owner];
  // The owner's user is deactivated after the routing decision was made.
  portal.setOwnerActive(gone.id, false);
  ({ url } = await sandbox.start());
  token = sandbox.issueToken(portalId).token;
});
afterEach(() => sandbox.reset());
afterAll(async () => {
  await sandbox.stop();
  await limiters.disconnectAll();
});

const connector = (timeoutMs?: number) =>
  new HubSpotConnector({
    portalId: String(portalId),
    accessToken: token,
    basePath: url,
    limiter: limiters.forPortal(String(portalId)),
    retry: { baseDelayMs: 10, maxAttempts: 3 },
    now: () => NOW,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });

it('one deactivated owner in a batch of 5: only its lead fails, the other four are written', async () => {
  const leads = demo.createContacts(5, 'import').map((c) => c.id);
  const res = await connector().setOwners(
    leads.map((leadId, i) => ({ leadId, ownerId: i === 3 ? gone.id : active.id })),
  );
  expect(res.map((r) => r.ok)).toEqual([true, true, true, false, true]);
  expect(res[3]).toMatchObject({
    ok: false,
    error: {
      kind: 'invalid',
      message: expect.stringContaining(`${gone.id} is not a valid owner id`) as unknown,
    },
  });
  const written = sandbox.writes.list({ portalId, kind: 'owner.set', source: 'api' });
  expect(written.map((w) => w.objectId).sort()).toEqual(leads.filter((_, i) => i !== 3).sort());
});

it('tasks for a deactivated owner: only that task fails, the others are created once', async () => {
  const leads = demo.createContacts(3, 'import').map((c) => c.id);
  const res = await connector().createTasks(
    leads.map((leadId, i) => ({
      leadId,
      ownerId: i === 0 ? gone.id : active.id,
      subject: `Follow up ${leadId}`,
      body: 'Routed by lead-router',
      dueAt: NOW + 3_600_000,
      priority: 'medium' as const,
      key: `task:${leadId}`,
    })),
  );
  expect(res.map((r) => r.ok)).toEqual([false, true, true]);
  const createdIds = res.flatMap((r) => (r.ok && r.id !== undefined ? [r.id] : []));
  const written = sandbox.writes.list({ portalId, kind: 'task.created', source: 'api' });
  expect(written.map((w) => w.objectId).sort()).toEqual([...createdIds].sort());
});

it('a hung read is cut by the timeout and retried; a hung task create is reported outcome unknown', async () => {
  // Longer than the timeout, short enough that no hang outlives the suite by much.
  sandbox.faults.configure({ timeoutHangMs: 1_500 });
  const [lead] = demo.createContacts(1, 'import').map((c) => c.id) as [string];
  const c = connector(1_000);
  await c.directory();

  sandbox.faults.failNext('timeout', 1, '/crm/v3/objects/contacts/batch/read');
  const read = await c.readLeads([lead], []);
  expect([...read.keys()]).toEqual([lead]);
  expect(sandbox.calls.forPortal(portalId).injected).toMatchObject({ timeout: 1 });

  sandbox.faults.failNext('timeout', 1, '/crm/v3/objects/tasks/batch/create');
  const [task] = await c.createTasks([
    {
      leadId: lead,
      ownerId: active.id,
      subject: 'Follow up',
      body: 'Routed by lead-router',
      dueAt: NOW + 3_600_000,
      priority: 'low',
      key: `task:${lead}`,
    },
  ]);
  expect(task).toMatchObject({ ok: false, error: { kind: 'transient', message: /timed out/ } });
  if (task?.ok === false) expect(outcomeUnknown(task.error)).toBe(true);
  // Not sent again by the connector: the one attempt was the injected hang.
  expect(sandbox.writes.list({ portalId, kind: 'task.created', source: 'api' })).toEqual([]);
});

it('a task create applied but answered by a dropped connection is outcome unknown, and not sent again', async () => {
  const [lead] = demo.createContacts(1, 'import').map((c) => c.id) as [string];
  const c = connector(5_000);
  await c.directory();
  const before = sandbox.writes.list({ portalId, kind: 'task.created', source: 'api' }).length;
  sandbox.faults.failNext('lost', 1, '/crm/v3/objects/tasks/batch/create');
  const [task] = await c.createTasks([
    {
      leadId: lead,
      ownerId: active.id,
      subject: 'Lost answer',
      body: 'Routed by lead-router',
      dueAt: NOW + 3_600_000,
      priority: 'low',
      key: `task:lost:${lead}`,
    },
  ]);
  expect(task).toMatchObject({ ok: false, error: { kind: 'transient', message: /may have been applied/ } });
  if (task?.ok === false) expect(outcomeUnknown(task.error)).toBe(true);
  // HubSpot made it once; the connector did not make it a second time.
  expect(sandbox.writes.list({ portalId, kind: 'task.created', source: 'api' })).toHaveLength(before + 1);
});
