// The sandbox CRM kept in a file (`npm start`): started again on it, it continues where it stopped —
// same records, owners, associations and write log, no contact or event id used twice, and webhooks it
// had not delivered are delivered after the restart.
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHubSpotSandbox, seedDemoPortal, type HubSpotSandbox } from '../../connectors/sandbox/index.js';
import { SandboxDataError } from '../../connectors/sandbox/persist.js';

interface Receiver {
  url: string;
  eventIds: number[];
  status: number;
  close(): Promise<void>;
}

async function receiver(status: number): Promise<Receiver> {
  const rx: Receiver = { url: '', eventIds: [], status, close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const events = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { eventId: number }[];
      if (rx.status === 200) rx.eventIds.push(...events.map((e) => e.eventId));
      res.statusCode = rx.status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  rx.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/hubspot`;
  rx.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return rx;
}

let dir: string;
let file: string;
const started: HubSpotSandbox[] = [];
const receivers: Receiver[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lead-router-sandbox-file-'));
  file = join(dir, 'sandbox-crm.jsonl');
});
afterEach(async () => {
  for (const s of started.splice(0)) await s.stop();
  for (const r of receivers.splice(0)) await r.close();
  await rm(dir, { recursive: true, force: true });
});

function sandbox(): HubSpotSandbox {
  const s = createHubSpotSandbox({ dataFile: file, webhookTiming: { retryScale: 0.0001 } });
  started.push(s);
  return s;
}

describe('a sandbox CRM kept in a file', () => {
  it('continues where it stopped: records, ids, write log and undelivered webhooks', async () => {
    const refusing = await receiver(500);
    receivers.push(refusing);
    const first = sandbox();
    const portal = first.createPortal();
    const demo = seedDemoPortal(portal, 7, { companies: 10 });
    first.configureWebhooks(portal.portalId, { targetUrl: refusing.url, clientSecret: 's', appId: 1 });
    const contacts = demo.createContacts(3);
    const owner = demo.owners[0]!;
    portal.updateObject('contacts', contacts[0]!.id, { hubspot_owner_id: owner.id }, 'api');
    portal.createObject('tasks', { hs_timestamp: '2026-12-03T14:00:00Z', hs_task_subject: 'Call' }, 'api', [
      { toId: contacts[0]!.id, typeId: 204, category: 'HUBSPOT_DEFINED' },
    ]);
    portal.setOwnerActive(demo.owners[1]!.id, false);
    const seq = portal.addSequence('Restart follow-up', owner.userId);
    portal.deleteSequence(seq.id);
    const before = portal.snapshot();
    const writesBefore = first.writes.list();
    await first.stop();
    started.splice(0);

    const accepting = await receiver(200);
    receivers.push(accepting);
    const second = sandbox();
    expect(second.portalIds()).toEqual([portal.portalId]);
    const again = second.portal(portal.portalId);
    expect(again.snapshot()).toEqual(before);
    expect(second.writes.list()).toEqual(writesBefore);
    // The demo portal is taken as it is, not seeded a second time.
    const resumed = seedDemoPortal(again, 7, { companies: 10 });
    expect(again.objects.companies.size).toBe(10);
    expect(resumed.owners.map((o) => o.id)).toEqual(demo.owners.map((o) => o.id));

    // The events the first run never delivered arrive now, then the new contact's, with new ids.
    second.configureWebhooks(portal.portalId, { targetUrl: accepting.url, clientSecret: 's', appId: 1 });
    const [next] = resumed.createContacts(1);
    expect(Number(next!.id)).toBe(Math.max(...contacts.map((c) => Number(c.id))) + 1);
    await second.webhooks.idle();
    // One contact.creation event per contact (the sandbox's default subscription).
    expect(accepting.eventIds.slice().sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
    expect(
      new Set(resumed.createContacts(1).map((c) => c.properties['email'])).has(next!.properties['email']),
    ).toBe(false);
  });

  it('a third start after delivery sends nothing again', async () => {
    const accepting = await receiver(200);
    receivers.push(accepting);
    const first = sandbox();
    const portal = first.createPortal();
    first.configureWebhooks(portal.portalId, { targetUrl: accepting.url, clientSecret: 's', appId: 1 });
    seedDemoPortal(portal, 7, { companies: 5 }).createContacts(2);
    await first.webhooks.idle();
    expect(accepting.eventIds).toEqual([1, 2]);
    await first.stop();
    started.splice(0);

    const second = sandbox();
    second.configureWebhooks(portal.portalId, { targetUrl: accepting.url, clientSecret: 's', appId: 1 });
    await second.webhooks.idle();
    expect(accepting.eventIds).toEqual([1, 2]);
  });

  it('drops a last line cut short by a crash, and names the file when a line inside is damaged', async () => {
    const first = sandbox();
    seedDemoPortal(first.createPortal(), 7, { companies: 3 }).createContacts(2);
    await first.stop();
    started.splice(0);
    await appendFile(file, '{"t":"write","rec');
    expect(sandbox().portal(62515).objects.contacts.size).toBe(2);

    const text = await readFile(file, 'utf8');
    await writeFile(file, `${text}not json\n${text}`);
    expect(() => createHubSpotSandbox({ dataFile: file })).toThrow(SandboxDataError);
    expect(() => createHubSpotSandbox({ dataFile: file })).toThrow(/damaged at line 2 .*demo:reset/);
  });
});
