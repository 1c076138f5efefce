// An SLA whose lead a Salesforce Lead queue owns, over the sandbox (real HTTP, jsforce): the reminder
// writes no task (Salesforce refuses a Task owned by a queue), is done saying why, and is still told;
// the escalation after it hands the lead to a rep. The app and the org share one clock, moved on by the
// test, so the SLA's minutes pass at once.
import { randomBytes } from 'node:crypto';
import { explainLead } from '../../src/cli/operate.js';
import { receiver, type Receiver } from '../pipeline/receiver.js';
import {
  createLeads,
  restAs,
  startSalesforceAppWith,
  until,
  type SalesforceE2e,
} from './salesforce-support.js';

const MIN = 60_000;
const SECRET_ENV = 'QUEUE_SLA_TEST_SECRET';
process.env[SECRET_ENV] = `whsec_${randomBytes(32).toString('base64')}`;

const rules = (hook: string) => `name: Queue SLA
notifications:
  ops: { webhook: { url: '${hook}', secret_env: ${SECRET_ENV} }, on: [reminder, escalation] }
routes:
  - name: Everyone waits in EMEA
    assign: { queue: emea }
    notify: [ops]
    sla:
      first_touch: 10m
      steps:
        - { after: 5m, remind: task }
        - { after: 15m, escalate: { rep: ada@acme.io } }
fallback: { queue: emea }
`;
const TEAM = `reps:
  ada@acme.io: { name: Ada Keller, timezone: Europe/Berlin }
queues:
  emea: { owner: EMEA_Queue }
`;

let hook: Receiver;
let e: SalesforceE2e;
/** How far the test has moved the app's and the org's clock on. */
let offset = 0;
const clock = (): number => Date.now() + offset;

beforeAll(async () => {
  hook = await receiver();
  e = await startSalesforceAppWith(
    { rules: rules(hook.url), team: TEAM },
    { clock, salesforceSandbox: { clock: { now: clock } } },
  );
}, 60_000);

afterAll(async () => {
  await e?.app.stop();
  await hook?.close();
});

it('reminds a queue-owned lead with no task, saying why, tells the reminder, and escalates it on', async () => {
  const [id] = await createLeads(e, {
    leads: [{ LastName: 'Waiting', Company: 'Lyon SA', Email: 'w@lyon.example', Country: 'FR' }],
  });
  const steps = async () => e.app.storage.slaTimers.stepsFor(e.tenantId, id!);
  await until('the lead to be routed to the queue', async () => {
    const s = await e.app.storage.inboxStats(e.tenantId);
    return s.done === 1 && s.pending === 0 && s.leased === 0;
  });
  expect(await e.app.storage.slaTimersFor(e.tenantId, id!)).toHaveLength(1);

  offset += 6 * MIN;
  // Settled: a step is claimed and sent before it is done or failed.
  const settledStep = async (kind: string) =>
    (await steps()).some((s) => s.kind === kind && (s.status === 'done' || s.status === 'failed'));
  await until('the reminder step', () => settledStep('remind'));
  const [remind] = (await steps()).filter((s) => s.kind === 'remind');
  expect(remind).toMatchObject({ status: 'done', owner: 'EMEA_Queue', error: null });
  expect(remind?.detail).toBe(
    "not touched: after 5m remind (a task for the owner); no task written: a Salesforce queue cannot own a task; the queue's members take the lead from its list",
  );
  const conn = restAs(e, e.app.salesforceSandbox!.demo.integrationUserId);
  expect((await conn.query(`SELECT Id FROM Task WHERE WhoId = '${id}'`)).totalSize).toBe(0);
  await until('the reminder to be told', () => hook.hits.length > 0);
  const told = JSON.parse(hook.hits[0]!.body) as { type: string; reason: string; owner: string };
  expect(told).toMatchObject({ type: 'lead.reminder', reason: remind!.detail, owner: 'EMEA_Queue' });

  offset += 10 * MIN;
  await until('the escalation step', () => settledStep('escalate'));
  expect((await steps()).map((s) => [s.kind, s.status])).toEqual([
    ['remind', 'done'],
    ['breach', 'done'],
    ['escalate', 'done'],
  ]);
  const ada = await conn.query<{ Id: string }>(`SELECT Id FROM User WHERE Email = 'ada@acme.io'`);
  const lead = await conn.query<{ OwnerId: string }>(`SELECT OwnerId FROM Lead WHERE Id = '${id}'`);
  expect(lead.records[0]?.OwnerId).toBe(ada.records[0]?.Id);
  await until('the escalation to be told', () => hook.hits.some((h) => h.body.includes('"lead.escalation"')));
  const tenant = (await e.app.storage.getTenant(e.tenantId))!;
  expect((await explainLead(e.app.storage, tenant, id!, { reps: {}, queues: {} })).join('\n')).toMatch(
    /remind \(owner EMEA_Queue\): not touched: after 5m remind \(a task for the owner\); no task written: a Salesforce queue cannot own a task/,
  );
}, 180_000);
