// HubSpot switches the v1 OAuth endpoints off on 2027-02-16. The whole app, started over a sandbox CRM
// whose v1 endpoints already answer as after the cut-off, installs through OAuth, learns its portal by
// introspection and routes a lead: it never needs v1.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';

const logger = createLogger({ silent: true });

describe('after the v1 OAuth cut-off', () => {
  let app: RunningApp | undefined;
  afterAll(() => app?.stop());

  it('installs, introspects and routes over the 2026-03 endpoints only', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-sunset-'));
    app = await startApp(loadConfig({ PORT: '0', SANDBOX_PORT: '0', DATA_DIR: dataDir, DEMO_RATE: '0' }), {
      logger,
      generate: false,
      sandbox: { oauthV1: false },
    });
    const sandbox = app.sandbox!;
    const [tenant] = await app.storage.listTenants();
    expect(tenant?.externalId).toBe(sandbox.portalId);

    const [contact] = sandbox.demo.createContacts(1);
    const portalId = Number(sandbox.portalId);
    const deadline = Date.now() + 60_000;
    while (sandbox.crm.writes.list({ portalId, kind: 'owner.set', objectId: contact!.id }).length === 0) {
      if (Date.now() > deadline) throw new Error('the contact was not routed');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sandbox.crm.oauth.v1Enabled).toBe(false);
    expect(sandbox.crm.oauth.v1Refused).toBe(0);
  });
});
