// An SLA re-route whose new owner Salesforce refuses as inactive (a rep deactivated since the app read
// the org's users) is decided again at once: the SLA follows the decision made again, whose owner has
// the lead, and takes its next step for them. The app and the org share one clock, moved on by the test,
// so the SLA's minutes pass at once.
import {
  admin,
  createLeads,
  effects,
  routed,
  startSalesforceAppWith,
  until,
  type SalesforceE2e,
} from './salesforce-support.js';

const MIN = 60_000;
const RULES = `name: A pool with an SLA
pools:
  team: { members: [ada@acme.io, sam@acme.io], strategy: round_robin, fallback: { pool: backup } }
  backup: { members: [tess@acme.io], strategy: round_robin }
routes:
  - name: Everyone to the team
    assign: { pool: team }
    task: { subject: 'New lead', due: 1h }
    sla:
      first_touch: 10m
      steps:
        - { after: 10m, reroute: true }
        - { after: 30m, remind: task }
fallback: { queue: desk }
`;
const TEAM = `reps:
  ada@acme.io: { name: Ada Keller, timezone: Europe/Berlin }
  sam@acme.io: { name: Sam Rivera, timezone: America/New_York }
  tess@acme.io: { name: Tess Novak, timezone: Europe/Prague }
queues:
  desk: { owner: SMB }
`;

let e: SalesforceE2e;
/** How far the test has moved the app's and the org's clock on. */
let offset = 0;
const clock = (): number => Date.now() + offset;

beforeAll(async () => {
  e = await startSalesforceAppWith(
    { rules: RULES, team: TEAM },
    { clock, salesforceSandbox: { clock: { now: clock } } },
  );
}, 60_000);

afterAll(() => e?.app.stop());

const users = () => e.app.salesforceSandbox!.demo.users;
const userId = (email: string) => String(users().find((u) => u['Email'] === email)?.['Id']);
const emailOf = (id: unknown) => String(users().find((u) => u['Id'] === id)?.['Email']);
const setActive = (email: string, active: boolean) =>
  admin(e.sandboxUrl, `/orgs/${e.orgId}/users/${userId(email)}`, { active });
const owners = (id: string) => (effects(e).owners.get(id) ?? []).map((r) => emailOf(r.details['ownerId']));
const lead = (name: string) => ({ LastName: name, Company: `${name} Ltd`, Email: `${name}@corp.example` });

it('an SLA re-route decided again after its rep was refused as inactive: the SLA follows the rep who got the lead', async () => {
  const [id] = await createLeads(e, { leads: [lead('late')] });
  await until('the lead to be routed', () => routed(e, [id!]));
  const [first] = owners(id!);
  const other = first === 'ada@acme.io' ? 'sam@acme.io' : 'ada@acme.io';

  // The users are read again (their cache has expired) for the next lead, which goes to the other rep
  // of the pool; then that rep is deactivated in the org, so the app still has them active.
  offset += 9 * MIN;
  const [next] = await createLeads(e, { leads: [lead('next')] });
  await until('the next lead to be routed', () => routed(e, [next!]));
  expect(owners(next!)).toEqual([other]);
  await setActive(other, false);

  // Untouched past its first touch: re-routed away from the first owner, to the other rep (refused as
  // inactive), so decided again: the pool's fallback, Tess.
  offset += 2 * MIN;
  await until('the lead to be re-routed to Tess', async () => owners(id!).length === 2 && routed(e, [id!]));
  expect(owners(id!)).toEqual([first, 'tess@acme.io']);
  const decisions = await e.app.storage.decisionsFor(e.tenantId, { leadId: id! });
  expect(decisions.map((d) => d.owner)).toEqual(['tess@acme.io', other, first]);
  expect(decisions[0]?.decisionKey).toMatch(/:route:sla:\d+:0~owner-inactive$/);

  // The timer looks again at the re-route (it was in flight), then, untouched, reminds Tess.
  const steps = async () => e.app.storage.slaTimers.stepsFor(e.tenantId, id!);
  const settled = async (kind: string) =>
    (await steps()).some((s) => s.kind === kind && (s.status === 'done' || s.status === 'failed'));
  offset += MIN;
  await until('the timer to look at the re-route', async () => {
    const [timer] = await e.app.storage.slaTimersFor(e.tenantId, id!);
    return timer?.state !== 'armed' || timer.dueAt > clock() + 10 * MIN;
  });
  offset += 20 * MIN;
  await until(
    'the reminder (or the timer left alone)',
    async () => (await settled('remind')) || (await settled('left_alone')),
  );
  expect((await steps()).map((s) => [s.kind, s.owner, s.status])).toEqual([
    ['breach', first, 'done'],
    ['reroute', first, 'done'],
    ['remind', 'tess@acme.io', 'done'],
  ]);
  const timers = await e.app.storage.slaTimersFor(e.tenantId, id!);
  expect(timers.map((t) => [t.decisionKey, t.owner])).toEqual([[`${id}:route`, first]]);
}, 180_000);

it('a lead decided again after its rep was refused as inactive: the first decision’s timer ends not assigned, with no step for the rep who never got the lead; the SLA runs on the decision made again', async () => {
  // The users are read again (their cache has expired) for this lead; then the rep it went to is
  // deactivated, so the next lead is decided for them and refused.
  const [read] = await createLeads(e, { leads: [lead('read')] });
  await until('the lead to be routed', () => routed(e, [read!]));
  const [rep] = owners(read!);
  await setActive(rep!, false);
  const [id] = await createLeads(e, { leads: [lead('refused')] });
  await until('the lead to be routed to Tess', () => routed(e, [id!]));
  expect(owners(id!)).toEqual(['tess@acme.io']);
  const [again, first] = await e.app.storage.decisionsFor(e.tenantId, { leadId: id! });
  expect([first?.owner, again?.owner]).toEqual([rep, 'tess@acme.io']);

  // Past the first touch: the first decision's timer is checked and ends; the SLA breaches for Tess.
  offset += 11 * MIN;
  const timers = async () =>
    e.app.storage.db.all<{ decision_key: string; owner: string; state: string; outcome: string | null }>(
      'SELECT decision_key, owner, state, outcome FROM sla_timers WHERE tenant_id = ? AND lead_id = ? ORDER BY id',
      [e.tenantId, id!],
    );
  const steps = async () => e.app.storage.slaTimers.stepsFor(e.tenantId, id!);
  await until('both timers to be checked', async () => {
    const [t1] = await timers();
    return t1?.state !== 'armed' && (await steps()).some((s) => s.kind === 'breach');
  });
  expect(await timers()).toEqual([
    { decision_key: `${id}:route`, owner: rep, state: 'cancelled', outcome: 'not_assigned' },
    expect.objectContaining({ decision_key: `${id}:route~owner-inactive`, owner: 'tess@acme.io' }),
  ]);
  expect((await steps()).filter((s) => s.owner !== 'tess@acme.io')).toEqual([]);
}, 180_000);
