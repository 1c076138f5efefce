// A rep deactivated in the org while the app runs: the app's directory (read every 5 minutes) still has
// them active, so the next lead decided for them is refused by Salesforce (INACTIVE_OWNER_OR_USER). That
// refusal makes the app read the org's users again at once, and decide that lead again on them: it goes
// to the pool's fallback, once, and so do the leads after it. A lead whose owner chosen again is refused
// too is a dead letter saying so; replayed once the org is fixed, it is decided again.
import { randomBytes } from 'node:crypto';
import { replayDeadLetters } from '../../src/cli/operate.js';
import { receiver, type Receiver } from '../pipeline/receiver.js';
import { publishConfig } from '../support/publish.js';
import {
  admin,
  createLeads,
  effects,
  routed,
  startSalesforceAppWith,
  until,
  type SalesforceE2e,
} from './salesforce-support.js';

const SECRET_ENV = 'DEACTIVATED_REP_TEST_SECRET';
process.env[SECRET_ENV] = `whsec_${randomBytes(32).toString('base64')}`;
const rules = (hook: string) => `name: One rep, and a backup
notifications:
  sales: { webhook: { url: '${hook}', secret_env: ${SECRET_ENV} }, on: [assignment] }
pools:
  solo: { members: [sam@acme.io], strategy: round_robin, fallback: { pool: backup } }
  backup: { members: [tess@acme.io], strategy: round_robin }
routes:
  - name: Everyone to Sam
    assign: { pool: solo }
    task: { subject: 'New lead', due: 1h }
    notify: [sales]
fallback: { queue: desk }
`;
const TEAM = `reps:
  sam@acme.io: { name: Sam Rivera, timezone: America/New_York }
  tess@acme.io: { name: Tess Novak, timezone: Europe/Prague }
queues:
  desk: { owner: SMB }
`;

let hook: Receiver;
let e: SalesforceE2e;

beforeAll(async () => {
  hook = await receiver();
  e = await startSalesforceAppWith({ rules: rules(hook.url), team: TEAM });
}, 60_000);

afterAll(async () => {
  await e?.app.stop();
  await hook?.close();
});

const lead = (name: string) => ({ LastName: name, Company: `${name} Ltd`, Email: `${name}@corp.example` });
const userId = (email: string) =>
  String(e.app.salesforceSandbox!.demo.users.find((u) => u['Email'] === email)?.['Id']);
const setActive = (email: string, active: boolean) =>
  admin(e.sandboxUrl, `/orgs/${e.orgId}/users/${userId(email)}`, { active });
/** Per lead, the owners the app wrote and the owners of the tasks it created, in order. */
const written = (id: string) => {
  const w = effects(e);
  return {
    owners: (w.owners.get(id) ?? []).map((r) => r.details['ownerId']),
    tasks: (w.tasks.get(id) ?? []).map((r) => r.details['OwnerId']),
  };
};
const settled = async () => {
  const s = await e.app.storage.inboxStats(e.tenantId);
  return s.pending === 0 && s.leased === 0;
};

it('decides a lead again when the org refuses the rep it was decided for as inactive: one owner write and one task, for the pool’s fallback; the leads after it go there too', async () => {
  const [before] = await createLeads(e, { leads: [lead('before')] });
  await until('the first lead to be routed', () => routed(e, [before!]));
  expect(written(before!).owners).toEqual([userId('sam@acme.io')]);

  await until('Sam to be told of the first lead', () =>
    hook.hits.some((h) => h.status === 200 && h.body.includes(before!)),
  );
  await setActive('sam@acme.io', false);
  hook.refuses = (body) => body.includes('"owner":"sam@acme.io"');
  // Decided with the directory read before: Sam, whom the org now refuses; then again, on the users
  // read afresh: Tess, the pool's fallback.
  const [refused] = await createLeads(e, { leads: [lead('refused')] });
  await until('the refused lead to be routed', () => routed(e, [refused!]));
  expect(written(refused!)).toEqual({ owners: [userId('tess@acme.io')], tasks: [userId('tess@acme.io')] });
  expect(await e.app.storage.deadLetters(e.tenantId, 10)).toEqual([]);

  // The decision trail: the one made again says why, the one before it wrote nothing and says why.
  const [again, first] = await e.app.storage.decisionsFor(e.tenantId, { leadId: refused! });
  expect([first?.owner, again?.owner]).toEqual(['sam@acme.io', 'tess@acme.io']);
  expect(again?.trace.steps[0]).toBe(
    'Decided again: Salesforce refused sam@acme.io, chosen first, as inactive; its users were read again',
  );
  expect(again?.trace.assignments[0]?.candidates).toEqual([
    expect.objectContaining({ email: 'sam@acme.io', skipped: 'inactive' }),
  ]);
  const before1 = await e.app.storage.actionsForDecision(e.tenantId, first!.decisionKey);
  expect(before1.map((a) => [a.kind, a.status])).toEqual([
    ['set_owner', 'failed'],
    ['create_task', 'failed'],
  ]);
  expect(before1[0]?.reason).toMatch(
    /^not written: Salesforce refused sam@acme\.io as inactive \(.*\[INACTIVE_OWNER_OR_USER\]\); the lead was decided again$/,
  );

  // Sam is not told of a lead he does not get (his receiver refuses it, so it is never sent before the
  // lead is decided again): that notification is withdrawn; Tess's says why she got the lead.
  const told = async (leadId: string) =>
    (await e.app.storage.notifications.deliveries(e.tenantId))
      .filter((d) => d.leadId === leadId)
      .map((d) => ({
        ...(JSON.parse(d.payload) as { owner: string; reason: string }),
        state: d.state,
        error: d.lastError,
      }));
  await until('Tess to be told of the lead', async () =>
    (await told(refused!)).some((n) => n.state === 'delivered'),
  );
  expect(await told(refused!)).toEqual([
    expect.objectContaining({
      owner: 'sam@acme.io',
      state: 'failed',
      error: expect.stringMatching(/^withdrawn: not written: Salesforce refused sam@acme\.io as inactive/),
    }),
    expect.objectContaining({
      owner: 'tess@acme.io',
      state: 'delivered',
      reason: expect.stringMatching(/^decided again: Salesforce refused sam@acme\.io as inactive; /),
    }),
  ]);
  expect(hook.hits.filter((h) => h.status === 200 && h.body.includes('"owner":"sam@acme.io"'))).toHaveLength(
    1,
  );

  const after = await createLeads(e, { leads: [lead('after1'), lead('after2')] });
  await until('the leads after it to be routed', () => routed(e, after));
  expect(after.map((id) => written(id).owners)).toEqual([[userId('tess@acme.io')], [userId('tess@acme.io')]]);
  expect((await e.app.storage.inboxStats(e.tenantId)).failed).toBe(0);
}, 120_000);

it('a lead whose owner chosen again is refused too is a dead letter saying so; replayed once the org is fixed, it is decided again', async () => {
  // Sam stays deactivated. The desk queue is now owned by Tess's user, named by id: the app sends it as
  // it is (the org checks it), so a decision for the desk is refused once Tess is deactivated too.
  await publishConfig(
    e.app.storage.db,
    e.tenantId,
    {
      rules: `name: One rep, and a desk
pools:
  solo: { members: [sam@acme.io], strategy: round_robin }
routes:
  - name: Everyone to Sam
    assign: { pool: solo }
    task: { subject: 'New lead', due: 1h }
    note: true
fallback: { queue: desk }
`,
      team: `${TEAM.replace('desk: { owner: SMB }', `desk: { owner: ${userId('tess@acme.io')} }`)}`,
    },
    Date.now(),
  );
  await setActive('tess@acme.io', false);
  const [stuck] = await createLeads(e, { leads: [lead('stuck')] });
  await until(
    'the lead to be dead-lettered',
    async () => (await settled()) && (await e.app.storage.inboxStats(e.tenantId)).failed === 1,
  );
  const [dead] = await e.app.storage.deadLetters(e.tenantId, 10);
  expect(dead?.event.objectId).toBe(stuck);
  expect(dead?.lastError).toMatch(
    new RegExp(
      `^assign lead ${stuck} to queue desk \\(decided again after Salesforce refused queue desk as inactive\\): Salesforce refused: .*\\[INACTIVE_OWNER_OR_USER\\]$`,
    ),
  );
  expect(written(stuck!)).toEqual({ owners: [], tasks: [] });

  // Sam is back: the replay decides the lead again (the desk is still refused) and it goes to Sam.
  await setActive('sam@acme.io', true);
  const tenant = (await e.app.storage.getTenant(e.tenantId))!;
  expect(await replayDeadLetters(e.app.storage, tenant, [dead!.id], Date.now())).toEqual({
    queued: [`#${dead!.id} queued again`],
    refused: [],
  });
  e.app.worker?.wake();
  await until('the replayed lead to be routed and its note written', async () => {
    if (!(await routed(e, [stuck!]))) return false;
    return (await e.app.storage.pendingActions(e.tenantId, stuck!)).length === 0;
  });
  expect(written(stuck!)).toEqual({ owners: [userId('sam@acme.io')], tasks: [userId('sam@acme.io')] });
  expect(effects(e).notes.get(stuck!)).toHaveLength(1);
  expect(await e.app.storage.deadLetters(e.tenantId, 10)).toEqual([]);
  const decisions = await e.app.storage.decisionsFor(e.tenantId, { leadId: stuck! });
  expect(decisions.map((d) => [d.destination.kind, d.owner, d.trace.steps[0]?.slice(0, 16)])).toEqual([
    ['rep', 'sam@acme.io', 'Decided again: S'],
    ['queue', null, 'Decided again: S'],
    ['queue', null, expect.not.stringMatching(/^Decided again/)],
  ]);
}, 120_000);
