import { createHmac } from 'node:crypto';
import {
  APP_ID,
  CLIENT_SECRET,
  deliver,
  makeEvent,
  PORTAL,
  PUBLIC_URL,
  startServer,
  T0,
  type Delivery,
  type Harness,
} from './helpers.js';

let h: Harness;
beforeEach(async () => {
  h = await startServer();
});
afterEach(async () => {
  await h.close();
});

const batch = (...events: Record<string, unknown>[]): string => JSON.stringify(events);

describe('POST /webhooks/hubspot: accepted deliveries', () => {
  it('records a correctly signed batch once; a redelivery answers 200 and adds nothing', async () => {
    const body = batch(
      makeEvent({ eventId: 1, objectId: 501 }),
      makeEvent({
        eventId: 2,
        objectId: 502,
        subscriptionType: 'contact.propertyChange',
        propertyName: 'country',
        propertyValue: 'DE',
      }),
    );
    const first = await deliver(h, { body });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ ok: true, accepted: 2, new: 2 });

    h.clock.now = T0 + 60_000;
    const again = await deliver(h, { body, timestamp: T0 + 60_000 });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ ok: true, accepted: 2, new: 0 });

    expect(await h.inboxCount()).toBe(2);
    expect(h.enqueued).toEqual([2]);
    const items = await h.storage.claim({ workerId: 'w', limit: 10, leaseMs: 1000, now: T0 + 60_000 });
    expect(items.map((i) => [i.tenantId, i.event.objectId, i.event.kind]).sort()).toEqual([
      [h.tenant.id, '501', 'created'],
      [h.tenant.id, '502', 'changed'],
    ]);
  });

  it('accepts a query string with encoded characters when signed the way HubSpot does', async () => {
    const path = '/webhooks/hubspot?tag=a%3Ab%40c&name=x%20y';
    const res = await deliver(h, { path, body: batch(makeEvent()) });
    expect(res.status).toBe(200);
    expect(await h.inboxCount()).toBe(1);
  });

  it('drops the echo of our own write and keeps the rest of the batch', async () => {
    const echo = makeEvent({
      subscriptionType: 'contact.propertyChange',
      propertyName: 'hubspot_owner_id',
      propertyValue: '77',
      changeSource: 'INTEGRATION',
      sourceId: `appId:${APP_ID}`,
    });
    const human = makeEvent({
      subscriptionType: 'contact.propertyChange',
      propertyName: 'hubspot_owner_id',
      propertyValue: '78',
      changeSource: 'CRM_UI',
      sourceId: 'userId:4242',
    });
    const res = await deliver(h, { body: batch(echo, human) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, accepted: 1, new: 1 });
    const [item] = await h.storage.claim({ workerId: 'w', limit: 10, leaseMs: 1000, now: T0 });
    expect(item?.event.value).toBe('78');
  });

  it('drops events for an unknown portal and logs them', async () => {
    const res = await deliver(h, {
      body: batch(makeEvent({ portalId: 999, objectId: 1 }), makeEvent({ portalId: PORTAL, objectId: 2 })),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, accepted: 1, new: 1 });
    expect(await h.inboxCount()).toBe(1);
    expect(h.logs.join('')).toContain('unknown portal');
    expect(h.logs.join('')).toContain('"portalId":"999"');
  });

  it('answers 200 with nothing to record when every event is an echo (no wake-up)', async () => {
    const echo = makeEvent({
      subscriptionType: 'contact.propertyChange',
      propertyName: 'hubspot_owner_id',
      propertyValue: '77',
      changeSource: 'INTEGRATION',
      sourceId: `appId:${APP_ID}`,
    });
    const res = await deliver(h, { body: batch(echo) });
    expect(res.status).toBe(200);
    expect(await h.inboxCount()).toBe(0);
    expect(h.enqueued).toEqual([]);
  });
});

describe('POST /webhooks/hubspot: uninstalled portals and privacy deletions', () => {
  it('answers 200 for a portal that uninstalled the app and enqueues nothing', async () => {
    expect(await h.storage.markTenantUninstalled(h.tenant.id, T0)).toBe(true);
    const res = await deliver(h, { body: batch(makeEvent({ objectId: 601 })) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, accepted: 0, new: 0 });
    expect(await h.inboxCount()).toBe(0);
    expect(h.enqueued).toEqual([]);
  });

  it('purges the contact a contact.privacyDeletion names, even from the same batch, and keeps counts', async () => {
    await deliver(h, { body: batch(makeEvent({ objectId: 701 }), makeEvent({ objectId: 702 })) });
    expect(await h.inboxCount()).toBe(2);
    const res = await deliver(h, {
      body: batch(
        makeEvent({ objectId: 701, subscriptionType: 'contact.propertyChange', propertyName: 'country' }),
        makeEvent({ objectId: 701, subscriptionType: 'contact.privacyDeletion' }),
      ),
    });
    expect(res.status).toBe(200);
    const left = await h.storage.db.all<{ object_id: string }>('SELECT object_id FROM inbox');
    expect(left.map((r) => r.object_id)).toEqual(['702']);
    expect(await h.storage.privacyDeletionStats(h.tenant.id)).toEqual({ requests: 1, rows: 2 });
    expect(h.logs.join('')).not.toMatch(/(?<![\d.])701(?![\d])/);
  });
});

describe('POST /webhooks/hubspot: signature failures answer a bare 401 and record nothing', () => {
  const path = '/webhooks/hubspot?q=a%20b%3Ac';
  const body = batch(makeEvent({ eventId: 7 }));
  // HMAC exactly as a sender would compute it over a given URI string (no decoding applied).
  const hmacOver = (uri: string, ts: number): string =>
    createHmac('sha256', CLIENT_SECRET).update(`POST${uri}${body}${ts}`, 'utf8').digest('base64');

  it.each<[string, Delivery]>([
    ['missing signature headers', { body, unsigned: true }],
    ['missing timestamp header', { body, headers: { 'x-hubspot-request-timestamp': '' } }],
    ['wrong secret', { body, secret: 'not-the-secret' }],
    ['altered body', { body: body.replace('"objectId":8', '"objectId":9'), signedBody: body }],
    ['stale timestamp (older than 5 minutes)', { body, timestamp: T0 - 5 * 60_000 - 1 }],
    ['timestamp from the future', { body, timestamp: T0 + 5 * 60_000 + 1 }],
    ['signed over another URI', { body, signedUri: 'https://evil.example.com/webhooks/hubspot' }],
    // HubSpot decodes only its table (%3A → :), never %20: a fully decoded URI is a different string.
    [
      'query signed over the fully decoded form',
      { path, body, signature: hmacOver(`${PUBLIC_URL}/webhooks/hubspot?q=a b:c`, T0) },
    ],
    ['query signed over the undecoded form', { path, body, signature: hmacOver(`${PUBLIC_URL}${path}`, T0) }],
  ])('%s', async (_name, delivery) => {
    const res = await deliver(h, delivery);
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('');
    expect(await h.inboxCount()).toBe(0);
    expect(h.enqueued).toEqual([]);
  });

  it('the control: the same query signed over HubSpot’s partly decoded form is accepted', async () => {
    const res = await deliver(h, {
      path,
      body,
      signature: hmacOver(`${PUBLIC_URL}/webhooks/hubspot?q=a%20b:c`, T0),
    });
    expect(res.status).toBe(200);
    expect(await h.inboxCount()).toBe(1);
  });

  it('never logs the signature or the secret, only the reason', async () => {
    const signature = hmacOver(`${PUBLIC_URL}/webhooks/hubspot`, T0).replace(/^./, 'A');
    const res = await deliver(h, { body, signature });
    expect(res.status).toBe(401);
    const logs = h.logs.join('');
    expect(logs).toContain('bad_signature');
    expect(logs).not.toContain(signature);
    expect(logs).not.toContain(CLIENT_SECRET);
  });
});

describe('POST /webhooks/hubspot: bad bodies', () => {
  it.each([
    ['malformed JSON', '[{"eventId":1,', 'not valid JSON'],
    ['an empty batch', '[]', 'schema'],
    ['an object instead of an array', '{"eventId":1}', 'schema'],
    ['an event without portalId', JSON.stringify([{ ...makeEvent(), portalId: undefined }]), 'portalId'],
  ])('%s with a valid signature → 400, nothing recorded', async (_name, body, reason) => {
    const res = await deliver(h, { body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain(reason);
    expect(await h.inboxCount()).toBe(0);
  });

  it('an oversized body → 413, nothing recorded', async () => {
    const big = batch({ ...makeEvent(), padding: 'x'.repeat(1024 * 1024) });
    const res = await deliver(h, { body: big });
    expect(res.status).toBe(413);
    expect(await h.inboxCount()).toBe(0);
  });

  it('an oversized body is refused even unsigned (the limit comes before any work)', async () => {
    const res = await deliver(h, { body: 'x'.repeat(1024 * 1024 + 1), unsigned: true });
    expect(res.status).toBe(413);
  });
});

describe('POST /webhooks/hubspot: storage failures', () => {
  it('answers 503 so HubSpot retries when the database is gone', async () => {
    await h.storage.close();
    const res = await deliver(h, { body: batch(makeEvent()) });
    expect(res.status).toBe(503);
    expect(h.enqueued).toEqual([]);
    expect(h.logs.join('')).toContain('HubSpot will retry');
  });
});
