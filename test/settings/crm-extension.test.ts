// The API HubSpot's UI extensions call through hubspot.fetch: only a request HubSpot signed (v3, real
// HMAC over the full URI with the portal and user HubSpot appends) gets in, and only for an installed
// portal; the tenant comes from the signed query, never from the path. Answers follow the shared schemas.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { signV3 } from '../../connectors/hubspot/signature.js';
import {
  crmStatusResponseSchema,
  recordRoutingResponseSchema,
  rerouteResponseSchema,
} from '../../src/settings/schemas.js';
import { CLIENT_SECRET, dachLead, PUBLIC_URL, startSettings, T0, type SettingsHarness } from './support.js';

let h: SettingsHarness;
beforeAll(async () => {
  h = await startSettings();
  await h.route(h.a, [dachLead('c-501')], T0);
});
afterAll(async () => {
  await h.close();
});

/** A request as HubSpot sends it for portal `portal`: its query appended, signed with the app secret. */
const signed = (method: string, path: string, portal = '101', body = '') => {
  const full = `${path}?portalId=${portal}&userId=7&userEmail=ada%40acme.io&appId=42`;
  return fetch(h.url + full, { method, headers: h.hubspotHeaders(method, full, body), body: body || null });
};

describe('the status the settings extension shows', () => {
  it('names the connection, the published version, the inbox and dead letters of the signed portal', async () => {
    const res = await signed('GET', '/api/crm/status');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const status = crmStatusResponseSchema.parse(await res.json());
    const active = await h.storage.activeRuleset(h.a.id);
    expect(status).toEqual({
      tenant: 'Acme',
      crm: { ok: true, detail: 'not checked' },
      published: { version: active!.version, name: active!.name, publishedAt: T0, publishedBy: 'install' },
      inbox: { pending: 0, oldestPendingAgeMs: null },
      deadLetters: 0,
    });
    const theirs = crmStatusResponseSchema.parse(
      await (await signed('GET', '/api/crm/status', '202')).json(),
    );
    expect(theirs.tenant).toBe('Globex');
    // Without an email, the user is HubSpot's user id; without either, nobody gets in.
    const byId = '/api/crm/status?portalId=101&userId=7';
    expect((await fetch(h.url + byId, { headers: h.hubspotHeaders('GET', byId) })).status).toBe(200);
    const nobody = '/api/crm/status?portalId=101';
    expect((await fetch(h.url + nobody, { headers: h.hubspotHeaders('GET', nobody) })).status).toBe(404);
  });
});

describe('the contact card', () => {
  it('says why a contact was routed: owner, rule, steps and its SLA', async () => {
    const res = await signed('GET', '/api/crm/records/c-501/routing');
    expect(res.status).toBe(200);
    const card = recordRoutingResponseSchema.parse(await res.json());
    expect(card.recordId).toBe('c-501');
    expect(card.decision).toMatchObject({
      rule: 'Enterprise demo requests in DACH',
      owner: expect.stringMatching(/@acme\.io$/),
      destination: expect.stringMatching(/^rep /),
      decidedAt: T0,
    });
    expect(card.decision!.summary).toContain('Enterprise demo requests in DACH');
    expect(card.sla).toEqual({ state: 'armed', dueAt: T0 + 10 * 60_000 });
  });

  it('a contact never routed here has no decision; another portal does not see this one', async () => {
    const none = recordRoutingResponseSchema.parse(
      await (await signed('GET', '/api/crm/records/c-999/routing')).json(),
    );
    expect(none).toEqual({ recordId: 'c-999', decision: null, sla: null });
    const theirs = recordRoutingResponseSchema.parse(
      await (await signed('GET', '/api/crm/records/c-501/routing', '202')).json(),
    );
    expect(theirs.decision).toBeNull();
  });

  it('re-routes the contact once through the worker, however often it is asked; a contact without a decision is not found', async () => {
    const before = (await h.storage.inboxStats(h.a.id)).pending;
    const res = await signed('POST', '/api/crm/records/c-501/reroute', '101', '{}');
    expect(res.status).toBe(200);
    const first = rerouteResponseSchema.parse(await res.json());
    expect(first).toMatchObject({ queued: true });
    expect((await h.storage.inboxStats(h.a.id)).pending).toBe(before + 1);
    // A retried request (or a second click) before that job has decided queues nothing more.
    const again = await signed('POST', '/api/crm/records/c-501/reroute', '101', '{}');
    expect(rerouteResponseSchema.parse(await again.json())).toEqual({ queued: false, job: first.job });
    expect((await h.storage.inboxStats(h.a.id)).pending).toBe(before + 1);
    expect((await signed('POST', '/api/crm/records/c-999/reroute', '101', '{}')).status).toBe(404);
    // Globex cannot re-route Acme's contact: it has no decision in Globex's tenant.
    expect((await signed('POST', '/api/crm/records/c-501/reroute', '202', '{}')).status).toBe(404);
    expect((await h.storage.inboxStats(h.b.id)).pending).toBe(0);
  });
});

describe('refusals (each signs with its own HMAC, never a stub)', () => {
  const path = '/api/crm/records/c-501/routing?portalId=101&userEmail=ada%40acme.io';
  const sign = (uri: string, timestamp: number, secret = CLIENT_SECRET) => ({
    'x-hubspot-signature-v3': signV3({ clientSecret: secret, method: 'GET', uri, rawBody: '', timestamp }),
    'x-hubspot-request-timestamp': String(timestamp),
  });
  it.each([
    ['no signature', () => ({})],
    ['the wrong secret', () => sign(PUBLIC_URL + path, h.clock.now, 'not-the-app-secret')],
    ['a stale timestamp', () => sign(PUBLIC_URL + path, h.clock.now - 6 * 60_000)],
    ['a signature over another portal', () => sign(PUBLIC_URL + path.replace('101', '202'), h.clock.now)],
  ])('refuses %s with a bare 404', async (_name, headers) => {
    const res = await fetch(h.url + path, { headers: headers() });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'this account has not installed the app' });
  });

  it('refuses a portal named twice, an uninstalled portal, and a record id that is not an id', async () => {
    const twice = `${path}&portalId=202`;
    expect((await fetch(h.url + twice, { headers: h.hubspotHeaders('GET', twice) })).status).toBe(404);
    const unknown = path.replace('101', '303');
    expect((await fetch(h.url + unknown, { headers: h.hubspotHeaders('GET', unknown) })).status).toBe(404);
    const odd = '/api/crm/records/a%20b/routing?portalId=101&userEmail=ada%40acme.io';
    const res = await fetch(h.url + odd, { headers: h.hubspotHeaders('GET', odd) });
    expect(res.status).toBe(400);
  });

  it('the OpenAPI document describes the CRM endpoints', async () => {
    const doc = (await (await fetch(h.url + '/api/openapi.json')).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/crm/status',
        '/api/crm/settings-link',
        '/api/crm/records/{recordId}/routing',
        '/api/crm/records/{recordId}/reroute',
      ]),
    );
  });
});
