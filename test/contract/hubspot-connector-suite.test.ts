// The connector contract suite against the HubSpot connector over the HubSpot sandbox (real HTTP, the
// real @hubspot/api-client).
import { HubSpotConnector } from '../../connectors/hubspot/connector.js';
import { HUBSPOT_BUCKETS } from '../../connectors/hubspot/profile.js';
import { createHubSpotSandbox, seedDemoPortal, type HubSpotSandbox } from '../../connectors/sandbox/index.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import { connectorContract } from './connector-suite.js';

const limiters = new LimiterFactory({ provider: 'hubspot-contract-suite', buckets: HUBSPOT_BUCKETS });
let sandbox: HubSpotSandbox | undefined;

afterAll(async () => {
  await sandbox?.stop();
  await limiters.disconnectAll();
});

connectorContract('HubSpot', async () => {
  const hubspot = createHubSpotSandbox({ seed: 21 });
  sandbox = hubspot;
  const portal = hubspot.createPortal();
  const demo = seedDemoPortal(portal, 21, { companies: 8 });
  const { url } = await hubspot.start();
  const portalId = String(portal.portalId);
  const company = demo.companies.find((c) => c.properties['hubspot_owner_id'] && c.properties['domain']);
  if (company === undefined) throw new Error('the demo portal has no owned company with a domain');
  const companyOwner = portal.owners.get(company.properties['hubspot_owner_id'] ?? '');
  const now = Date.now();
  return {
    connector: new HubSpotConnector({
      portalId,
      accessToken: hubspot.issueToken(portal.portalId).token,
      basePath: url,
      limiter: limiters.forPortal(portalId),
      retry: { baseDelayMs: 10, maxAttempts: 3 },
      windows: { tenSecondlyMs: 100, secondlyMs: 100 },
    }),
    createLeads: (n) => Promise.resolve(demo.createContacts(n, 'import').map((c) => c.id)),
    emailOf: (id) => Promise.resolve(portal.getObject('contacts', id).properties['email'] ?? ''),
    ownerIdOf: (id) =>
      Promise.resolve(portal.getObject('contacts', id).properties['hubspot_owner_id'] || undefined),
    missingId: '999999999',
    unknownOwnerId: '987654',
    knownAccount: { domain: company.properties['domain'] ?? '', ownerEmail: companyOwner?.email ?? '' },
    ownerEmail: 'ada@acme.io',
    sequenceName: 'Enterprise demo follow-up',
    touch: (id) => {
      // A call logged by the rep moves `notes_last_contacted` (hubspot.md: "last call, email or meeting").
      portal.updateObject('contacts', id, { notes_last_contacted: new Date().toISOString() }, 'admin');
      return Promise.resolve();
    },
    failNext: (kind, count) => hubspot.faults.failNext(kind, count),
    now,
  };
});
