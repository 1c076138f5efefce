// What a lead decided again (its owner refused as inactive, INACTIVE_OWNER_OR_USER) leaves behind when
// the decision made again has nothing to write for the owner chosen first: the first decision's owner
// write and task end failed with the reason, none stays planned (pending, or resumed by a replay).
// The account owner is deactivated in the org after the app read its users, so the first decision still
// picks them; the decision made again, on the users read afresh, no longer matches their route.
import { publishConfig } from '../support/publish.js';
import {
  admin,
  createLeads,
  effects,
  restAs,
  startSalesforceAppWith,
  until,
  type SalesforceE2e,
} from './salesforce-support.js';

const RULES = `name: Account owners, once enriched
routes:
  - name: Wait for the industry
    assign: { hold: { fields: [industry], timeout: 1h, then: { queue: desk } } }
  - name: Existing customer goes to its account owner
    when: { account_owner: active }
    assign: account_owner
    task: { subject: 'New lead', due: 1h }
  - name: Wait for the title
    assign: { hold: { fields: [title], timeout: 1h, then: { queue: desk } } }
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

const userId = (email: string) =>
  String(e.app.salesforceSandbox!.demo.users.find((u) => u['Email'] === email)?.['Id']);
const setActive = (email: string, active: boolean) =>
  admin(e.sandboxUrl, `/orgs/${e.orgId}/users/${userId(email)}`, { active });
const integration = () => restAs(e, e.app.salesforceSandbox!.demo.integrationUserId);
/** A customer account owned by `owner`, found by its leads' email domain. */
const account = async (domain: string, owner: string) => {
  const made = await integration()
    .sobject('Account')
    .create({ Name: domain, Website: `https://${domain}`, Type: 'Customer', OwnerId: userId(owner) });
  expect(made.success).toBe(true);
};
const settled = async () => {
  const s = await e.app.storage.inboxStats(e.tenantId);
  return s.pending === 0 && s.leased === 0;
};
/** The lead's decisions, latest first, with each one's actions as [kind, status]. */
const trail = async (leadId: string) =>
  Promise.all(
    (await e.app.storage.decisionsFor(e.tenantId, { leadId })).map(async (d) => ({
      decision: d,
      actions: await e.app.storage.actionsForDecision(e.tenantId, d.decisionKey),
    })),
  );
const NOT_WRITTEN = (owner: string) =>
  new RegExp(
    `^not written: Salesforce refused ${owner.replace('.', '\\.')} as inactive \\(.*\\[INACTIVE_OWNER_OR_USER\\]\\); the lead was decided again$`,
  );

it('a lead released from its hold for a rep just deactivated, and held again when decided again: the first decision’s owner write and task fail, the lead waits in its new hold', async () => {
  await account('held-again.example', 'sam@acme.io');
  const [id] = await createLeads(e, {
    leads: [{ LastName: 'Held', Company: 'Held Again', Email: 'held@held-again.example' }],
  });
  await until(
    'the lead to be held for its industry',
    async () =>
      (await e.app.storage.activeHold(e.tenantId, id!))?.fields.includes('industry') === true && settled(),
  );

  // The industry arrives once Sam is deactivated: decided with the users read before, for Sam (refused);
  // decided again on the users read afresh, the account route no longer matches, and the lead still has
  // no title: held again.
  await setActive('sam@acme.io', false);
  await integration().sobject('Lead').update({ Id: id!, Industry: 'Software' });
  await until('the lead to be decided for Sam', async () => (await trail(id!)).length >= 2 && settled());

  const [again, first, hold] = await trail(id!);
  expect(hold?.decision.destination).toMatchObject({ kind: 'hold', fields: ['industry'] });
  expect(first?.decision.owner).toBe('sam@acme.io');
  expect(again?.decision.destination).toMatchObject({ kind: 'hold', fields: ['title'] });
  expect(again?.decision.trace.steps[0]).toMatch(/^Decided again: Salesforce refused sam@acme\.io/);
  expect(first?.actions.map((a) => [a.kind, a.status])).toEqual([
    ['set_owner', 'failed'],
    ['create_task', 'failed'],
  ]);
  for (const a of first?.actions ?? []) expect(a.reason).toMatch(NOT_WRITTEN('sam@acme.io'));
  expect(await e.app.storage.pendingActions(e.tenantId, id!)).toEqual([]);
  expect(await e.app.storage.activeHold(e.tenantId, id!)).toMatchObject({ fields: ['title'] });
  expect(effects(e).owners.get(id!) ?? []).toEqual([]);
  expect((await e.app.storage.inboxStats(e.tenantId)).failed).toBe(0);

  // Not lost: its title arrives, and it is routed (Sam still inactive: the rule set's fallback, the desk).
  await integration().sobject('Lead').update({ Id: id!, Title: 'CTO' });
  await until('the lead to be routed', async () => (await trail(id!)).length === 4 && settled());
  const [routedTo] = await trail(id!);
  expect(routedTo?.decision.destination).toEqual({ kind: 'queue', name: 'desk' });
  expect(routedTo?.actions.map((a) => [a.kind, a.status])).toEqual([['set_queue', 'done']]);
  expect(await e.app.storage.pendingActions(e.tenantId, id!)).toEqual([]);
}, 120_000);

it('a lead decided again that the rules then give nobody: the first decision’s owner write and task fail, nothing stays planned', async () => {
  await publishConfig(
    e.app.storage.db,
    e.tenantId,
    {
      rules: `name: Account owners, else nobody
routes:
  - name: Existing customer goes to its account owner
    when: { account_owner: active }
    assign: account_owner
    task: { subject: 'New lead', due: 1h }
fallback: none
`,
      team: TEAM,
    },
    Date.now(),
  );
  // Tess is active in the users the app read last (when it decided the lead above again).
  await account('nobody.example', 'tess@acme.io');
  await setActive('tess@acme.io', false);
  const [id] = await createLeads(e, {
    leads: [{ LastName: 'Nobody', Company: 'Nobody', Email: 'nobody@nobody.example', Title: 'CTO' }],
  });
  await until('the lead to be decided for Tess', async () => (await trail(id!)).length >= 2 && settled());

  const [again, first] = await trail(id!);
  expect(first?.decision.owner).toBe('tess@acme.io');
  expect(again?.decision.destination).toMatchObject({ kind: 'none' });
  expect(again?.actions).toEqual([]);
  expect(first?.actions.map((a) => [a.kind, a.status])).toEqual([
    ['set_owner', 'failed'],
    ['create_task', 'failed'],
  ]);
  for (const a of first?.actions ?? []) expect(a.reason).toMatch(NOT_WRITTEN('tess@acme.io'));
  expect(await e.app.storage.pendingActions(e.tenantId, id!)).toEqual([]);
  expect(effects(e).owners.get(id!) ?? []).toEqual([]);
  expect((await e.app.storage.inboxStats(e.tenantId)).failed).toBe(0);
}, 120_000);
