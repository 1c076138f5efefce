import { STREAM_FAILING_GRACE_MS, STREAM_MISSED_RECENT_MS } from '../../src/storage/index.js';
import { startServer, T0, type Harness } from './helpers.js';

let h: Harness;
beforeEach(async () => {
  h = await startServer();
});
afterEach(async () => {
  await h.close();
});

describe('health probes', () => {
  it('/healthz answers 200 { ok: true }', async () => {
    const res = await fetch(`${h.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('/readyz answers 200 while the database answers', async () => {
    const res = await fetch(`${h.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, database: 'ok', crm: 'ok' });
  });

  it('/readyz answers 503 once the database is gone, /healthz stays 200', async () => {
    await h.storage.close();
    const ready = await fetch(`${h.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ok: false, database: 'unavailable' });
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  });

  it('/ is a page linking what there is to look at (was {"error":"not found"})', async () => {
    const res = await fetch(`${h.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('<a href="/healthz">Health</a>');
    expect(html).toContain('<a href="/readyz">Readiness</a>');
  });

  it('unknown paths answer 404', async () => {
    expect((await fetch(`${h.url}/nope`)).status).toBe(404);
  });
});

describe("/readyz and the Salesforce orgs' change-event streams", () => {
  const LEADS = '/data/LeadChangeEvent';
  const CONTACTS = '/data/ContactChangeEvent';
  const TTL = 30_000;
  beforeEach(async () => {
    await h.close();
    h = await startServer({
      pulled: [
        { provider: 'salesforce', channel: LEADS },
        { provider: 'salesforce', channel: CONTACTS },
      ],
    });
  });
  const ready = async () => {
    const res = await fetch(`${h.url}/readyz`);
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  };

  it('says nothing while a process reads each stream; one whose lease ran out degrades it, still 200', async () => {
    const org = await h.storage.createTenant({ provider: 'salesforce', externalId: '00D1', name: 'Org' }, T0);
    for (const channel of [LEADS, CONTACTS])
      expect(await h.storage.streams.takeLease(org.id, channel, 'intake-1', TTL, T0)).toBe(true);
    h.clock.now = T0 + 1_000;
    expect(await ready()).toEqual({ ok: true, database: 'ok', crm: 'ok' });

    // The reader renews its Leads lease only: the Contacts lease runs out at T0 + 30 s.
    expect(await h.storage.streams.takeLease(org.id, LEADS, 'intake-1', TTL, T0 + 20_000)).toBe(true);
    h.clock.now = T0 + 40_000;
    expect(await ready()).toEqual({
      ok: true,
      database: 'ok',
      crm: 'ok',
      intake: 'degraded',
      streams: [
        {
          tenantId: org.id,
          channel: CONTACTS,
          why: `its lease ran out at ${new Date(T0 + TTL).toISOString()} and no process took it over`,
        },
      ],
    });
  });

  it('names a held stream whose reader has not subscribed for longer than the grace, with its reason', async () => {
    const org = await h.storage.createTenant({ provider: 'salesforce', externalId: '00D3', name: 'Org' }, T0);
    const renew = (at: number) =>
      Promise.all([LEADS, CONTACTS].map((c) => h.storage.streams.takeLease(org.id, c, 'intake-1', TTL, at)));
    await renew(T0);
    await h.storage.streams.recordSubscription(org.id, CONTACTS, 'intake-1', { subscribed: true }, T0);
    const refused = '400::The channel you requested to subscribe to does not exist {/data/LeadChangeEvent}';
    await h.storage.streams.recordSubscription(
      org.id,
      LEADS,
      'intake-1',
      { subscribed: false, error: `subscribe failed: ${refused}` },
      T0 + 1_000,
    );
    // Within the grace (a client rebuilt after an expired session subscribes again within it): nothing.
    await renew(T0 + STREAM_FAILING_GRACE_MS);
    h.clock.now = T0 + 1_000 + STREAM_FAILING_GRACE_MS;
    expect(await ready()).toEqual({ ok: true, database: 'ok', crm: 'ok' });
    // Past it, still renewed: the lease alone says nothing of it.
    await renew(T0 + 1_001 + STREAM_FAILING_GRACE_MS);
    h.clock.now = T0 + 1_001 + STREAM_FAILING_GRACE_MS;
    expect(await ready()).toEqual({
      ok: true,
      database: 'ok',
      crm: 'ok',
      intake: 'degraded',
      streams: [
        {
          tenantId: org.id,
          channel: LEADS,
          why: `the process reading it has not subscribed since ${new Date(T0 + 1_000).toISOString()}: subscribe failed: ${refused}`,
        },
      ],
    });
    // Subscribed again: read, as the Contacts stream is.
    await h.storage.streams.recordSubscription(org.id, LEADS, 'intake-1', { subscribed: true }, h.clock.now);
    expect(await ready()).toEqual({ ok: true, database: 'ok', crm: 'ok' });
  });

  it('names a subscribed stream whose catch-up poll recently found records it never delivered', async () => {
    const org = await h.storage.createTenant({ provider: 'salesforce', externalId: '00D4', name: 'Org' }, T0);
    const renew = (at: number) =>
      Promise.all([LEADS, CONTACTS].map((c) => h.storage.streams.takeLease(org.id, c, 'intake-1', TTL, at)));
    await renew(T0);
    for (const channel of [LEADS, CONTACTS])
      await h.storage.streams.recordSubscription(org.id, channel, 'intake-1', { subscribed: true }, T0);
    const at = T0 + 600_000;
    await h.storage.streams.recordMissed(org.id, LEADS, 'intake-1', 3, at);
    await renew(at + STREAM_MISSED_RECENT_MS);
    h.clock.now = at + STREAM_MISSED_RECENT_MS;
    expect(await ready()).toEqual({
      ok: true,
      database: 'ok',
      crm: 'ok',
      intake: 'degraded',
      streams: [
        {
          tenantId: org.id,
          channel: LEADS,
          why: `subscribed, but its catch-up poll at ${new Date(at).toISOString()} found 3 new records the stream never delivered`,
        },
      ],
    });
    // No poll found any since: the stream is taken to deliver again.
    await renew(at + STREAM_MISSED_RECENT_MS + 1);
    h.clock.now = at + STREAM_MISSED_RECENT_MS + 1;
    expect(await ready()).toEqual({ ok: true, database: 'ok', crm: 'ok' });
  });

  it("names a stream no process ever took; a paused org's stream is left to its pause", async () => {
    const org = await h.storage.createTenant({ provider: 'salesforce', externalId: '00D2', name: 'Org' }, T0);
    expect(await ready()).toMatchObject({
      intake: 'degraded',
      streams: [
        { tenantId: org.id, channel: CONTACTS, why: 'no process has taken its lease' },
        { tenantId: org.id, channel: LEADS, why: 'no process has taken its lease' },
      ],
    });
    await h.storage.pauseTenant(org.id, { reason: 'outside login hours', checkAt: T0 + 60_000 }, T0);
    const body = await ready();
    expect(body).toMatchObject({ routing: 'paused', paused: [{ tenantId: org.id }] });
    expect(body).not.toHaveProperty('intake');
    expect(body).not.toHaveProperty('streams');
  });
});
