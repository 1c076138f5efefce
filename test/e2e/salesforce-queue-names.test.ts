// A team file names a Salesforce Lead queue as the org's Setup shows it (its label or its queue name),
// not only by its id: a queued lead gets that queue's id as OwnerId, written by the app through jsforce,
// and the route's task is left out (a queue cannot own one), which the console's line, `explain` and the
// settings tab's Activity say.
import { randomBytes } from 'node:crypto';
import { explainLead } from '../../src/cli/operate.js';
import type { DecisionEvent } from '../../src/app/start.js';
import { leadDetailResponseSchema } from '../../src/settings/schemas.js';
import {
  createLeads,
  openSettingsInSalesforce,
  restAs,
  startSalesforceAppWith,
  until,
  type SalesforceE2e,
} from './salesforce-support.js';

const RULES = `name: Queues by name
routes:
  - name: French leads wait in a queue whose name is misspelt
    when: { country: FR }
    assign: { queue: typo }
  - name: German leads wait in APAC
    when: { country: DE }
    assign: { queue: apac }
    task: { subject: 'New lead', due: 1h }
  - name: Everyone else waits in EMEA
    assign: { queue: emea }
    task: { subject: 'New lead', due: 1h }
fallback: { queue: emea }
`;
// The demo org's Lead queues: label APAC, queue name EMEA_Queue. Not the queues the org's own
// assignment rule gives these leads on insert (EMEA, NA): the app's owner write must change them.
const TEAM = `reps:
  ada@acme.io: { name: Ada Keller, timezone: Europe/Berlin }
queues:
  apac: { owner: APAC }
  emea: { owner: EMEA_Queue }
  typo: { owner: EMEAA }
`;

const SKIPPED =
  "skipped: a Salesforce queue cannot own a task; the queue's members take the lead from its list";

let e: SalesforceE2e;
/** What `npm start` prints per decision (its line is the decision's summary). */
const decided: DecisionEvent[] = [];
/** The leads the first test queued. */
let queued: { de: string; us: string } | undefined;

beforeAll(async () => {
  e = await startSalesforceAppWith(
    { rules: RULES, team: TEAM },
    { onDecision: (event) => decided.push(event) },
    { SETTINGS_SECRET: randomBytes(32).toString('hex') },
  );
}, 60_000);

afterAll(() => e?.app.stop());

it('owns a queued lead by the queue the team file names, by label or by queue name, with no task', async () => {
  const [de, us] = await createLeads(e, {
    leads: [
      { LastName: 'Queued', Company: 'Berlin GmbH', Email: 'q@berlin.example', Country: 'DE' },
      { LastName: 'Queued', Company: 'Austin Inc', Email: 'q@austin.example', Country: 'US' },
    ],
  });
  // A Salesforce queue owns leads but no task: the route's task is done with nothing written, and the
  // lead is not a dead letter (Salesforce refuses a Task whose OwnerId is a queue).
  await until('both leads to be routed', async () => {
    const s = await e.app.storage.inboxStats(e.tenantId);
    return s.done === 2 && s.pending === 0 && s.leased === 0;
  });
  expect((await e.app.storage.deadLetters(e.tenantId, 10)).map((d) => d.lastError)).toEqual([]);
  const conn = restAs(e, e.app.salesforceSandbox!.demo.integrationUserId);
  const owners = await conn.query<{ Id: string; Owner: { Name: string; Type: string } }>(
    `SELECT Id, Owner.Name, Owner.Type FROM Lead WHERE Id IN ('${de}', '${us}')`,
  );
  const ownerOf = new Map(owners.records.map((r) => [r.Id, `${r.Owner.Type} ${r.Owner.Name}`]));
  expect([ownerOf.get(de!), ownerOf.get(us!)]).toEqual(['Queue APAC', 'Queue EMEA']);
  const tasks = await conn.query(`SELECT Id FROM Task WHERE WhoId IN ('${de}', '${us}')`);
  expect(tasks.totalSize).toBe(0);
  queued = { de: de!, us: us! };
}, 120_000);

it('says of those leads that no task was written, and why: the console line, explain, the settings tab', async () => {
  const { de, us } = queued!;
  // The console's line names no task; the action reads as done with nothing written, saying why.
  const lines = new Map(decided.map((d) => [d.lead.id, d.summary]));
  expect([lines.get(de), lines.get(us)]).toEqual([
    'q@berlin.example → queue apac (German leads wait in APAC)',
    'q@austin.example → queue emea (Everyone else waits in EMEA)',
  ]);
  const tenant = (await e.app.storage.getTenant(e.tenantId))!;
  const explained = await explainLead(e.app.storage, tenant, de, { reps: {}, queues: {} });
  expect(explained).toContain(`  queue_task: done — ${SKIPPED}`);
  const { cookie } = await openSettingsInSalesforce(e);
  const res = await fetch(`${e.app.url}/api/tenants/${e.tenantId}/activity/${us}`, { headers: { cookie } });
  const [decision] = leadDetailResponseSchema.parse(await res.json()).decisions;
  expect(decision?.actions.find((a) => a.kind === 'queue_task')).toEqual({
    kind: 'queue_task',
    status: 'done',
    crmId: null,
    error: null,
    note: SKIPPED,
  });
}, 120_000);

it('dead-letters a lead whose queue names no queue of the org, saying so', async () => {
  const [fr] = await createLeads(e, {
    leads: [{ LastName: 'Typo', Company: 'Paris SA', Email: 'q@paris.example', Country: 'FR' }],
  });
  await until(
    'the lead to be dead-lettered',
    async () => (await e.app.storage.inboxStats(e.tenantId)).failed === 1,
  );
  const [dead] = await e.app.storage.deadLetters(e.tenantId, 10);
  expect(dead?.event.objectId).toBe(fr);
  expect(dead?.lastError).toBe(
    `assign lead ${fr} to queue typo: Salesforce refused: owner "EMEAA" is not a Salesforce user or queue id, nor the name of one of the org's Lead queues`,
  );
}, 120_000);
