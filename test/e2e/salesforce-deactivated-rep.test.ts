// A rep deactivated in the org while the app runs: the app's directory (read every 5 minutes) still has
// them active, so the next lead decided for them is refused by Salesforce (INACTIVE_OWNER_OR_USER) and
// dead-lettered. That refusal makes the app read the org's users again at once: the leads after it go to
// the pool's fallback, not to the same refusal for the rest of the 5 minutes.
import {
  admin,
  createLeads,
  effects,
  routed,
  startSalesforceAppWith,
  until,
  type SalesforceE2e,
} from './salesforce-support.js';

const RULES = `name: One rep, and a backup
pools:
  solo: { members: [sam@acme.io], strategy: round_robin, fallback: { pool: backup } }
  backup: { members: [tess@acme.io], strategy: round_robin }
routes:
  - name: Everyone to Sam
    assign: { pool: solo }
    task: { subject: 'New lead', due: 1h }
fallback: { queue: desk }
`;
const TEAM = `reps:
  sam@acme.io: { name: Sam Rivera, timezone: America/New_York }
  tess@acme.io: { name: Tess Novak, timezone: Europe/Prague }
queues:
  desk: { owner: SMB }
`;

let e: SalesforceE2e;

beforeAll(async () => {
  e = await startSalesforceAppWith({ rules: RULES, team: TEAM });
}, 60_000);

afterAll(() => e?.app.stop());

const lead = (name: string) => ({ LastName: name, Company: `${name} Ltd`, Email: `${name}@corp.example` });

it('reads the org’s users again after a write is refused for a deactivated rep, and routes the next leads past them', async () => {
  const demo = e.app.salesforceSandbox!.demo;
  const userId = (email: string) => String(demo.users.find((u) => u['Email'] === email)?.['Id']);
  const ownerOf = (id: string) => effects(e).owners.get(id)?.at(-1)?.details['ownerId'];

  const [before] = await createLeads(e, { leads: [lead('before')] });
  await until('the first lead to be routed', () => routed(e, [before!]));
  expect(ownerOf(before!)).toBe(userId('sam@acme.io'));

  await admin(e.sandboxUrl, `/orgs/${e.orgId}/users/${userId('sam@acme.io')}`, { active: false });
  // Decided with the directory read before: Sam, whom the org now refuses.
  const [refused] = await createLeads(e, { leads: [lead('refused')] });
  await until('the refused lead to be dead-lettered', async () => {
    const s = await e.app.storage.inboxStats(e.tenantId);
    return s.failed === 1 && s.pending === 0 && s.leased === 0;
  });
  const [dead] = await e.app.storage.deadLetters(e.tenantId, 10);
  expect([dead?.event.objectId, dead?.lastError]).toEqual([
    refused,
    expect.stringContaining('[INACTIVE_OWNER_OR_USER]'),
  ]);

  const after = await createLeads(e, { leads: [lead('after1'), lead('after2')] });
  await until('the leads after it to be routed', () => routed(e, after));
  expect(after.map(ownerOf)).toEqual([userId('tess@acme.io'), userId('tess@acme.io')]);
  expect((await e.app.storage.inboxStats(e.tenantId)).failed).toBe(1);
}, 120_000);
