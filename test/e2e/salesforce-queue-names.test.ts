// A team file names a Salesforce Lead queue as the org's Setup shows it (its label or its queue name),
// not only by its id: a queued lead gets that queue's id as OwnerId, written by the app through jsforce,
// and the route's task is left out (a queue cannot own one).
import {
  createLeads,
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

let e: SalesforceE2e;

beforeAll(async () => {
  e = await startSalesforceAppWith({ rules: RULES, team: TEAM });
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
