// The settings tab checks a team's people and queue owners against the directory routing stored, which is
// up to a refresh (minutes) old. A user enabled again in the org since (or a queue created in Setup a
// minute ago) is not warned of: when the check finds someone that copy lacks, it asks the org's users
// and queues as they are now, once, and checks again. Over the Salesforce sandbox, through the real
// connector; the stored copy is left as routing read it.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { rulesResponseSchema, validateResponseSchema } from '../../src/settings/schemas.js';
import {
  admin,
  createLeads,
  openSettingsInSalesforce,
  routed,
  salesforceConfig,
  startSalesforceApp,
  until,
  type SalesforceE2e,
} from '../e2e/salesforce-support.js';

let e: SalesforceE2e;
let session: { cookie: string; csrf: string };

beforeAll(async () => {
  e = await startSalesforceApp(await salesforceConfig());
}, 90_000);
afterAll(() => e?.app.stop());

const validate = async (source: string) => {
  const res = await fetch(`${e.app.url}/api/tenants/${e.tenantId}/rules/validate`, {
    method: 'POST',
    headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
    body: JSON.stringify({ source }),
  });
  expect(res.status).toBe(200);
  return validateResponseSchema.parse(await res.json()).warnings;
};

it('a rep enabled again in the org since routing last read its users is not warned of: the users are read again', async () => {
  // A lead routed: routing reads the org's users and stores them, Quinn deactivated among them.
  const [id] = await createLeads(e, { count: 1 });
  await until('the lead to be routed', () => routed(e, [id!]));
  const stored = (await e.app.storage.loadDirectory(e.tenantId))!;
  expect(stored.owners.find((o) => o.email === 'quinn@acme.io')?.active).toBe(false);
  // Opened only now: the tab checks against routing's stored copy. Opened before routing stored one, the
  // tab would list the users itself, and reuse that listing (Quinn deactivated) for a minute.
  session = await openSettingsInSalesforce(e, 'ada@acme.io');
  // Read three minutes ago (the worker refreshes it every five), and Quinn enabled again in Setup since.
  const readAt = Date.now() - 3 * 60_000;
  await e.app.storage.saveDirectory(e.tenantId, { ...stored, fetchedAt: readAt });
  const quinn = e.app.salesforceSandbox!.demo.users.find((u) => u['Email'] === 'quinn@acme.io')!;
  await admin(e.sandboxUrl, `/orgs/${e.orgId}/users/${String(quinn['Id'])}`, { active: true });

  const active = rulesResponseSchema.parse(
    await (
      await fetch(`${e.app.url}/api/tenants/${e.tenantId}/rules`, { headers: { cookie: session.cookie } })
    ).json(),
  ).active!;
  expect(await validate(active.source)).toEqual([]);
  // Asked, not stored: routing's copy is routing's to refresh.
  expect((await e.app.storage.loadDirectory(e.tenantId))?.fetchedAt).toBe(readAt);
}, 90_000);
