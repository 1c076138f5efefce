// listLeads (backfill and reassign page through it) over real HTTP against the Salesforce sandbox, whose
// SOQL is parsed by a real SOQL parser: open Leads in Id order, filtered by creation time, by a queue
// owner ("unowned"), by a rep's email, and resumed after the last id a page gave.
import { SalesforceSession } from '../../../connectors/salesforce/auth.js';
import { SalesforceConnector } from '../../../connectors/salesforce/connector.js';
import { ManualClock } from '../../../connectors/sandbox-kit/clock.js';
import {
  createSalesforceSandbox,
  type DemoOrg,
  type SalesforceSandbox,
} from '../../../connectors/sandbox-salesforce/index.js';
import { integrationTokens, sandboxApp } from '../../sandbox-salesforce/support.js';

const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
let sf: SalesforceSandbox;
let demo: DemoOrg;
let c: SalesforceConnector;
/** The leads this test made, by what it did with them. */
const made: Record<'repEarly' | 'queueEarly' | 'otherEarly' | 'queueLate' | 'repLate', string> = {
  repEarly: '',
  queueEarly: '',
  otherEarly: '',
  queueLate: '',
  repLate: '',
};
const LATE = Date.UTC(2026, 0, 5, 10, 0, 0);

beforeAll(async () => {
  sf = createSalesforceSandbox({ seed: 11, clock });
  demo = sf.createDemoOrg({ accounts: 5 });
  const { url } = await sf.start();
  const tokens = integrationTokens(sf, demo, url);
  const session = new SalesforceSession({
    app: sandboxApp(url),
    tokens,
    store: { load: () => Promise.resolve(tokens), save: () => Promise.resolve() },
  });
  c = new SalesforceConnector({ session, retry: { baseDelayMs: 5, maxAttempts: 2 } });

  const userId = (email: string): string => String(demo.users.find((u) => u['Email'] === email)?.['Id']);
  const queue = [...demo.queues.values()][0]!;
  const [a, b, o] = demo.createLeads(3).map((l) => String(l['Id']));
  clock.set(LATE);
  const [d, e] = demo.createLeads(2).map((l) => String(l['Id']));
  Object.assign(made, { repEarly: a, queueEarly: b, otherEarly: o, queueLate: d, repLate: e });
  const results = await c.setOwners([
    { leadId: a!, ownerId: userId('ada@acme.io') },
    { leadId: b!, ownerId: queue },
    { leadId: o!, ownerId: userId('bo@acme.io') },
    { leadId: d!, ownerId: queue },
    { leadId: e!, ownerId: userId('ada@acme.io') },
  ]);
  expect(results.every((r) => r.ok)).toBe(true);
});
afterAll(async () => {
  await sf.stop();
});

/** The ids of a listing that are this test's leads, in the order listed. */
function ours(ids: string[]): string[] {
  const mine = new Set(Object.values(made));
  return ids.filter((id) => mine.has(id));
}

it('lists open Leads in Id order', async () => {
  const page = await c.listLeads({});
  expect(ours(page.ids)).toEqual(Object.values(made));
  expect([...page.ids].sort()).toEqual(page.ids);
});

it('lists those created since a time', async () => {
  expect(ours((await c.listLeads({ since: LATE })).ids)).toEqual([made.queueLate, made.repLate]);
  expect(ours((await c.listLeads({ since: LATE + 1_000 })).ids)).toEqual([]);
});

it('lists the unowned ones: owned by a queue', async () => {
  expect(ours((await c.listLeads({ unowned: true })).ids)).toEqual([made.queueEarly, made.queueLate]);
});

it("lists a rep's, by email in any case; an email nobody has lists nothing", async () => {
  expect(ours((await c.listLeads({ owner: 'ADA@acme.io' })).ids)).toEqual([made.repEarly, made.repLate]);
  expect((await c.listLeads({ owner: 'nobody@acme.io' })).ids).toEqual([]);
});

it('resumes after the last id a page gave, filters combined', async () => {
  expect(ours((await c.listLeads({ after: made.queueEarly })).ids)).toEqual([
    made.otherEarly,
    made.queueLate,
    made.repLate,
  ]);
  expect(ours((await c.listLeads({ after: made.queueEarly, unowned: true })).ids)).toEqual([made.queueLate]);
});
