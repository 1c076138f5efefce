import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHubSpotSandbox, signV1, signV3, type HubSpotSandbox } from '../../connectors/sandbox/index.js';
import { DEFAULT_WEBHOOK_TIMING } from '../../connectors/sandbox/webhooks.js';

const SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';
const CLASSIC =
  '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]';

describe('webhook signatures match hubspot.md §2.2 vectors', () => {
  it.each([
    ['POST', 'https://www.example.com/webhook_uri', CLASSIC, '/pXDSgWeGksQpwCsgqd43P0eY6gBIse9UX0tfkudUrE='],
    [
      'GET',
      'https://www.example.com/webhook_uri?q=a%3Ab%40c',
      '',
      'LwtVxq71OiJeha+bLH+8JutN3W919JK6WsJ8IXRsAsE=',
    ],
    [
      'POST',
      'https://www.example.com/webhook_uri',
      '{"example_field":"example_value"}',
      'rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o=',
    ],
  ])('v3 %s %s', (method, uri, body, expected) => {
    expect(signV3(SECRET, method, uri, body, 1700000000000)).toBe(expected);
  });
  it('v1', () => {
    expect(signV1(SECRET, CLASSIC)).toBe('232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de');
  });
});

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A receiver that answers with `statusFor(n)` for the n-th request and tracks concurrency. */
const openReceivers: (() => void)[] = [];
afterEach(() => {
  for (const close of openReceivers.splice(0)) close();
});

async function receiver(statusFor: (n: number) => number, holdMs = 0) {
  const received: Received[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server: Server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const n = received.length;
      setTimeout(() => {
        inFlight--;
        res.statusCode = statusFor(n);
        res.end();
      }, holdMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/hubspot`;
  const rx = {
    url,
    received,
    max: () => maxInFlight,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  openReceivers.push(() => {
    // Keep-alive sockets from the sandbox's sender would hold the process open.
    server.closeAllConnections();
    server.close();
  });
  return rx;
}

describe('webhook delivery', () => {
  let sandbox: HubSpotSandbox;
  beforeEach(() => {
    sandbox = createHubSpotSandbox({ seed: 5, webhookTiming: { retryScale: 0.0001, batchWindowMs: 2 } });
  });
  afterEach(() => sandbox.stop());

  it('posts signed batches with contact.creation and object.creation events when both are subscribed', async () => {
    const rx = await receiver(() => 204);
    const portal = sandbox.createPortal({
      webhooks: {
        targetUrl: rx.url,
        clientSecret: SECRET,
        appId: 777,
        subscriptions: [
          { subscriptionType: 'contact.creation' },
          { subscriptionType: 'object.creation', objectType: 'contact' },
          { subscriptionType: 'contact.propertyChange', propertyName: 'hubspot_owner_id' },
        ],
      },
    });
    const c = portal.createObject('contacts', { email: 'a@b.example' }, 'api');
    await sandbox.webhooks.idle();
    expect(rx.received).toHaveLength(1);
    const { headers, body } = rx.received[0]!;
    const ts = String(headers['x-hubspot-request-timestamp']);
    // Independent check, following hubspot.md §2.1: HMAC-SHA256(secret, method + uri + body + timestamp), base64.
    const expected = createHmac('sha256', SECRET).update(`POST${rx.url}${body}${ts}`).digest('base64');
    expect(headers['x-hubspot-signature-v3']).toBe(expected);
    expect(headers['x-hubspot-signature']).toBe(
      createHash('sha256')
        .update(SECRET + body)
        .digest('hex'),
    );
    const events = JSON.parse(body) as {
      subscriptionType: string;
      objectId: number;
      objectTypeId?: string;
    }[];
    expect(events.map((e) => e.subscriptionType)).toEqual(['contact.creation', 'object.creation']);
    expect(events.every((e) => e.objectId === Number(c.id))).toBe(true);
    expect(events[1]!.objectTypeId).toBe('0-1');
    await rx.close();
  });

  it('retries after a 500 from the receiver with attemptNumber incremented', async () => {
    const rx = await receiver((n) => (n === 1 ? 500 : 200));
    const portal = sandbox.createPortal({ webhooks: { targetUrl: rx.url, clientSecret: SECRET, appId: 1 } });
    portal.createObject('contacts', { email: 'r@b.example' }, 'import');
    await sandbox.webhooks.idle();
    expect(rx.received).toHaveLength(2);
    const attempts = rx.received.map(
      (r) => (JSON.parse(r.body) as { attemptNumber: number }[])[0]!.attemptNumber,
    );
    expect(attempts).toEqual([0, 1]);
    expect(sandbox.webhooks.attempts.map((a) => a.outcome)).toEqual([500, 200]);
  });

  it('never has more than maxConcurrent requests in flight and batches at most 100 events', async () => {
    const rx = await receiver(() => 200, 20);
    const portal = sandbox.createPortal({
      webhooks: { targetUrl: rx.url, clientSecret: SECRET, appId: 1, maxConcurrent: 3 },
    });
    for (let i = 0; i < 1200; i++) portal.createObject('contacts', { email: `c${i}@b.example` }, 'import');
    await sandbox.webhooks.idle();
    const sizes = rx.received.map((r) => (JSON.parse(r.body) as unknown[]).length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1200);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    expect(rx.max()).toBeLessThanOrEqual(3);
    expect(sandbox.webhooks.maxInFlight(portal.portalId)).toBe(3);
  });

  it('emits contact.propertyChange for subscribed properties with changeSource', async () => {
    const rx = await receiver(() => 200);
    const portal = sandbox.createPortal({
      webhooks: {
        targetUrl: rx.url,
        clientSecret: SECRET,
        appId: 9,
        subscriptions: [
          { subscriptionType: 'contact.creation' },
          { subscriptionType: 'contact.propertyChange', propertyName: 'hubspot_owner_id' },
        ],
      },
    });
    const owner = portal.addOwner({
      email: 'o@x',
      firstName: 'O',
      lastName: 'X',
      teams: [],
      archived: false,
      salesSeat: true,
      connectedInboxes: [],
    });
    const c = portal.createObject('contacts', { email: 'p@b.example' }, 'import');
    await sandbox.webhooks.idle();
    portal.updateObject('contacts', c.id, { hubspot_owner_id: owner.id, lastname: 'ignored' }, 'api');
    await sandbox.webhooks.idle();
    const last = JSON.parse(rx.received.at(-1)!.body) as Record<string, unknown>[];
    expect(last).toEqual([
      expect.objectContaining({
        subscriptionType: 'contact.propertyChange',
        propertyName: 'hubspot_owner_id',
        propertyValue: owner.id,
        changeSource: 'INTEGRATION',
        sourceId: '9',
      }),
    ]);
  });

  it('sends only the types the app subscribed to, one event per matching active subscription', async () => {
    const rx = await receiver(() => 200);
    const portal = sandbox.createPortal({
      webhooks: {
        targetUrl: rx.url,
        clientSecret: SECRET,
        appId: 5,
        subscriptions: [
          { subscriptionType: 'object.creation', objectType: 'contact' },
          { subscriptionType: 'contact.creation', active: false },
          { subscriptionType: 'object.propertyChange', objectType: 'contact', propertyName: 'country' },
          { subscriptionType: 'company.creation' },
        ],
      },
    });
    const c = portal.createObject('contacts', { email: 'only@b.example' }, 'import');
    await sandbox.webhooks.idle();
    portal.updateObject('contacts', c.id, { country: 'DE', lastname: 'not subscribed' }, 'import');
    portal.createObject('tasks', { hs_timestamp: '2026-12-01T00:00:00Z' }, 'api');
    await sandbox.webhooks.idle();
    const events = rx.received.flatMap((r) => JSON.parse(r.body) as Record<string, unknown>[]);
    expect(events).toEqual([
      expect.objectContaining({
        subscriptionType: 'object.creation',
        subscriptionId: 5001,
        objectTypeId: '0-1',
        changeFlag: 'CREATED',
      }),
      expect.objectContaining({
        subscriptionType: 'object.propertyChange',
        subscriptionId: 5003,
        objectTypeId: '0-1',
        propertyName: 'country',
        propertyValue: 'DE',
      }),
    ]);
  });

  it('without subscriptions named, sends contact.creation only', async () => {
    const rx = await receiver(() => 200);
    const portal = sandbox.createPortal({ webhooks: { targetUrl: rx.url, clientSecret: SECRET, appId: 5 } });
    const c = portal.createObject('contacts', { email: 'default@b.example' }, 'import');
    portal.updateObject('contacts', c.id, { hubspot_owner_id: '', country: 'FR' }, 'import');
    await sandbox.webhooks.idle();
    const events = rx.received.flatMap((r) => JSON.parse(r.body) as { subscriptionType: string }[]);
    expect(events.map((e) => e.subscriptionType)).toEqual(['contact.creation']);
  });

  it('retries each failed notification 10 times on HubSpot’s 24 h schedule, each with its own spread', async () => {
    const rx = await receiver(() => 503);
    const scale = 0.00001;
    sandbox.webhooks.setTiming({ retryScale: scale });
    const portal = sandbox.createPortal({ webhooks: { targetUrl: rx.url, clientSecret: SECRET, appId: 1 } });
    const contacts = [0, 1, 2].map((i) =>
      portal.createObject('contacts', { email: `x${i}@b.example` }, 'import'),
    );
    await sandbox.webhooks.idle();
    // Every notification: the first try and 10 retries, then given up.
    const tries = new Map<number, number[]>();
    for (const r of rx.received)
      for (const e of JSON.parse(r.body) as { eventId: number; attemptNumber: number }[])
        tries.set(e.eventId, [...(tries.get(e.eventId) ?? []), e.attemptNumber]);
    expect(tries.size).toBe(contacts.length);
    for (const attempts of tries.values()) expect(attempts).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(sandbox.webhooks.deadLetters).toHaveLength(contacts.length);

    const { retryDelaysMs, retrySpread } = DEFAULT_WEBHOOK_TIMING;
    const retries = sandbox.webhooks.retries.filter((r) => r.portalId === portal.portalId);
    expect(retries).toHaveLength(contacts.length * 10);
    for (const r of retries) {
      const base = retryDelaysMs[r.attemptNumber - 1]! * scale;
      expect(r.delayMs).toBeGreaterThanOrEqual(base * (1 - retrySpread));
      expect(r.delayMs).toBeLessThanOrEqual(base * (1 + retrySpread));
    }
    // Notifications of one failed batch are not retried in lockstep.
    const firstRetries = retries.filter((r) => r.attemptNumber === 1).map((r) => r.delayMs);
    expect(new Set(firstRetries).size).toBe(contacts.length);
    // The whole schedule, at its longest, ends within HubSpot's 24 hours.
    const longest = retryDelaysMs.reduce((a, b) => a + b, 0) * (1 + retrySpread);
    expect(longest).toBeLessThanOrEqual(24 * 3600_000);
  });
});
