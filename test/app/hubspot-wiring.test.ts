// The HubSpot wiring as the app builds a portal's connector: its log lines name the tenant and portal,
// and an install of the portal (the app's `forget` on a new token set) ends a refusal the connector
// remembered, so a scope granted by a reinstall is seen at once.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
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
  const wiring = () =>
    hubspotWiring({
      storage,
      oauth: new HubSpotOAuth({
        clientId: 'c',
        clientSecret: 's',
        redirectUri: 'http://127.0.0.1/cb',
        baseUrl: API,
      }),
      limiters,
      basePath: API,
      clock: () => T0,
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
});
