// The Team page's roster follows a Salesforce org's users, over the Salesforce sandbox through the real
// connector and the tab opened as Salesforce opens it (a signed canvas request): a User an admin creates
// through the REST API appears (routed with weight 1 until enriched), one deactivated is marked as
// routing sees it, and reactivated is active again — each on the next look, not after the directory's
// cache has expired.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { teamResponseSchema } from '../../src/settings/schemas.js';
import {
  openSettingsInSalesforce,
  restAs,
  salesforceConfig,
  startSalesforceApp,
  type SalesforceE2e,
} from '../e2e/salesforce-support.js';

describe('the roster synced from the CRM users (Salesforce sandbox)', () => {
  let e: SalesforceE2e;
  let session: { cookie: string };

  beforeAll(async () => {
    e = await startSalesforceApp(
      await salesforceConfig({ SETTINGS_SECRET: randomBytes(32).toString('hex') }),
    );
    session = await openSettingsInSalesforce(e);
  }, 90_000);
  afterAll(async () => {
    await e?.app.stop();
  });

  const team = async () =>
    teamResponseSchema.parse(
      await (
        await fetch(`${e.app.url}/api/tenants/${e.tenantId}/team`, { headers: { cookie: session.cookie } })
      ).json(),
    );

  it('shows a User created in the org, marks a deactivated one, and sees it reactivated', async () => {
    const admin = restAs(e, e.app.salesforceSandbox!.demo.integrationUserId);
    const before = await team();
    expect(before.crm.error).toBeNull();
    expect(before.reps.find((r) => r.email === 'bo@acme.io')).toMatchObject({ inTeam: true, active: true });
    expect(before.reps.find((r) => r.email === 'zoe@acme.io')).toBeUndefined();

    await admin.sobject('User').create({
      Username: 'zoe@acme.io.sandbox',
      Email: 'zoe@acme.io',
      FirstName: 'Zoe',
      LastName: 'Alvarez',
      TimeZoneSidKey: 'Europe/Madrid',
    });
    const [bo] = (await admin.query<{ Id: string }>("SELECT Id FROM User WHERE Email = 'bo@acme.io'"))
      .records;
    await admin.sobject('User').update({ Id: bo!.Id, IsActive: false });

    const synced = await team();
    expect(synced.crm.error).toBeNull();
    expect(synced.reps.find((r) => r.email === 'zoe@acme.io')).toMatchObject({
      name: 'Zoe Alvarez',
      inTeam: false,
      active: true,
      weight: 1,
      timezone: 'Europe/Madrid',
    });
    expect(synced.reps.find((r) => r.email === 'bo@acme.io')).toMatchObject({
      inTeam: true,
      active: false,
      inactiveReason: 'deactivated in the CRM',
    });
    expect(synced.pools.find((p) => p.name === 'emea-ae')?.next).not.toBe('bo@acme.io');

    await admin.sobject('User').update({ Id: bo!.Id, IsActive: true });
    expect((await team()).reps.find((r) => r.email === 'bo@acme.io')?.active).toBe(true);
  }, 60_000);
});
