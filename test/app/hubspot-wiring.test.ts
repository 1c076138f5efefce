// The HubSpot wiring as the app builds a portal's connector: its log lines name the tenant and portal,
// and an install of the portal (the app's `forget` on a new token set) ends a refusal the connector
// remembered, so a scope granted by a reinstall is seen at once.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import nock from 'nock';
import { HubSpotOAuth } from '../../connectors/hubspot/oauth.js';
import { HUBSPOT_BUCKETS } from '../../connectors/hubspot/profile.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import { encodeTokenSet, hubspotWiring } from '../../src/app/hubspot.js';
import type { Storage, Tenant } from '../../src/storage/index.js';
import { addTenant, sqliteMemory, T0 } from '../storage/helpers.js';

const API = 'https://api.hubapi.com';
const SCHEMA_SCOPE = 'crm.schemas.contacts.read';

/** HubSpot's 403 for a call the install was not granted the scope for (hubspot.md §7). */
const missingScope = {
  status: 'error',
  message: "This app hasn't been granted all required scopes to make this call.",
  category: 'MISSING_SCOPES',
  errors: [
    {
      message: 'One or more of the following scopes are required.',
      context: { requiredGranularScopes: [SCHEMA_SCOPE] },
    },
  ],
};

describe('hubspotWiring', () => {
  let storage: Storage;
  let close: () => Promise<void>;
  let tenant: Tenant;
  const limiters = new LimiterFactory({ provider: 'hubspot-wiring-test', buckets: HUBSPOT_BUCKETS });
  const lines: Array<{ message: string; meta: Record<string, unknown> | undefined }> = [];
  let clock = T0;
  /** Refresh tokens HubSpot's token endpoint was asked with; it answers `access-<n>` for 30 minutes. */
  const refreshed: string[] = [];
  const wiring = () =>
    hubspotWiring({
      storage,
      oauth: new HubSpotOAuth({
        clientId: 'c',
        clientSecret: 's',
        redirectUri: 'http://127.0.0.1/cb',
        baseUrl: API,
        fetch: (_url, init) => {
          refreshed.push(new URLSearchParams(init.body).get('refresh_token') ?? '');
          const body = {
            access_token: `access-${refreshed.length + 10}`,
            refresh_token: 'refresh-2',
            expires_in: 1800,
          };
          return Promise.resolve({
            status: 200,
            headers: new Headers(),
            text: () => Promise.resolve(JSON.stringify(body)),
          });
        },
        now: () => clock,
      }),
      limiters,
      basePath: API,
      clock: () => clock,
      log: { warn: (message, meta) => lines.push({ message, meta }) },
    });
  const failed = (error: unknown) =>
    Promise.reject(error instanceof Error ? error : new Error(String(error)));

  beforeAll(() => nock.disableNetConnect());
  beforeEach(async () => {
    ({ storage, close } = await sqliteMemory.open());
    await addTenant(storage, 'a', 'hubspot');
    await storage.setTenantToken(
      'a',
      encodeTokenSet({ accessToken: 'access-1', refreshToken: 'refresh-1', expiresAt: T0 + 30 * 60_000 }),
      T0,
    );
    tenant = (await storage.getTenant('a'))!;
    lines.length = 0;
    refreshed.length = 0;
    clock = T0;
  });
  afterEach(async () => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    await limiters.disconnectAll();
    await close();
    expect(pending).toEqual([]);
  });
  afterAll(() => nock.enableNetConnect());

  it('a refused properties read is said once, with the tenant and the portal', async () => {
    const scope = nock(API)
      .get('/crm/v3/owners/')
      .query(true)
      .twice()
      .reply(200, { results: [] })
      .get('/crm/v3/properties/contacts')
      .query(true)
      .reply(403, missingScope)
      .post('/crm/v3/objects/contacts/batch/read')
      .query(true)
      .twice()
      .reply(200, { results: [{ id: '1', properties: { interests: 'Routing;Scoring' } }] });
    const { connector, release } = wiring().connect(tenant, { failed });
    await connector.readLeads(['1'], ['interests']);
    await connector.readLeads(['1'], ['interests']);
    scope.done();
    expect(lines).toEqual([
      {
        message: expect.stringContaining(`reinstall the app granting ${SCHEMA_SCOPE}`),
        meta: expect.objectContaining({ tenantId: 'a', portalId: 'portal-a' }),
      },
    ]);
    await release();
  });

  it('an install of the portal ends the refusal its connector remembered: asked again at once', async () => {
    let asked = 0;
    const scope = nock(API)
      .get('/crm/v3/properties/contacts')
      .query(true)
      .reply(() => (asked++, [403, missingScope]))
      .get('/crm/v3/properties/contacts')
      .query(true)
      .reply(() => (asked++, [200, { results: [{ name: 'email', type: 'string', fieldType: 'text' }] }]));
    const hubspot = wiring();
    const { connector, release } = hubspot.connect(tenant, { failed });
    const refused = { kind: 'auth', message: expect.stringContaining(`missing scope: ${SCHEMA_SCOPE}`) };
    await expect(connector.accountFields!()).rejects.toMatchObject(refused);
    await expect(connector.accountFields!()).rejects.toMatchObject(refused);
    expect(asked).toBe(1);
    // The install callback stored the new token set and the app tells the wiring (start.ts's unstream).
    hubspot.forget!(tenant);
    await expect(connector.accountFields!()).resolves.toMatchObject({ names: new Map([['email', 'email']]) });
    scope.done();
    await release();
  });

  it('the access token is held in memory until near its expiry, a 401, or an install; then read again', async () => {
    const reads = jest.spyOn(storage, 'getTenantToken');
    const sent: string[] = [];
    let refuse = '';
    nock(API)
      .get('/crm/v3/owners/')
      .query(true)
      .times(9)
      .reply(function () {
        const token = String(this.req.headers['authorization']).replace('Bearer ', '');
        sent.push(token);
        return token === refuse ? [401, { status: 'error', message: 'expired' }] : [200, { results: [] }];
      });
    let asked = 0;
    nock(API)
      .get('/crm/v3/properties/contacts')
      .query(true)
      .reply(() => (asked++, [403, missingScope]))
      .get('/crm/v3/properties/contacts')
      .query(true)
      .reply(() => (asked++, [200, { results: [] }]));
    const hubspot = wiring();
    const { connector, release } = hubspot.connect(tenant, { failed });
    const check = () => connector.checkConnection();
    await check();
    await check();
    await expect(connector.accountFields!()).rejects.toMatchObject({ kind: 'auth' });
    expect(reads).toHaveBeenCalledTimes(1);

    // Another process installs the portal again, granting the scope: the token held is still valid at
    // HubSpot until it expires, and used.
    await storage.setTenantToken(
      'a',
      encodeTokenSet({
        accessToken: 'access-2',
        refreshToken: 'refresh-2',
        expiresAt: T0 + 30 * 60_000,
        scopes: [SCHEMA_SCOPE],
      }),
      T0,
    );
    await check();
    expect(sent).toEqual(['access-1', 'access-1', 'access-1']);
    // HubSpot refuses it (401): the next call reads the stored set, another grant, so the refusal the
    // connector remembered is asked again.
    refuse = 'access-1';
    await expect(check()).resolves.toMatchObject({ ok: false, error: { details: { status: 401 } } });
    await check();
    expect(sent.slice(3)).toEqual(['access-1', 'access-2']);
    expect(reads).toHaveBeenCalledTimes(2);
    await expect(connector.accountFields!()).resolves.toMatchObject({ objects: 'contacts' });
    expect(asked).toBe(2);

    // Within five minutes of its expiry: read again, refreshed once, the new one held.
    clock = T0 + 25 * 60_000 + 1;
    await check();
    await check();
    expect(refreshed).toEqual(['refresh-2']);
    expect(sent.slice(5)).toEqual(['access-11', 'access-11']);
    expect(reads).toHaveBeenCalledTimes(3);

    // An install in this process (the app's forget): read again.
    hubspot.forget!(tenant);
    await check();
    expect(reads).toHaveBeenCalledTimes(4);
    await check();
    expect(reads).toHaveBeenCalledTimes(4);
    expect(sent).toHaveLength(9);
    await release();
  });
});
