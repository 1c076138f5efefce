// The Salesforce sandbox kept in a file (`CRM=salesforce npm start`): reopened, it has the same org,
// records and write log, hands out no record id or replay id twice, and a damaged file is a clear error.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSalesforceSandbox } from '../../connectors/sandbox-salesforce/index.js';
import { SandboxDataError } from '../../connectors/sandbox-kit/journal.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sf-sandbox-persist-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('continues the org after a restart: same records, new ids after the old ones, replay ids going on', async () => {
  const dataFile = join(dir, 'sandbox-salesforce.jsonl');
  const first = createSalesforceSandbox({ dataFile });
  const demo = first.createDemoOrg({ accounts: 10 });
  const before = demo.createLeads(3).map((l) => String(l['Id']));
  const lastReplay = first.streaming.state(demo.org.orgId).lastReplayId;
  const writes = first.writes.list().length;
  await first.stop();

  const second = createSalesforceSandbox({ dataFile });
  const [kept] = second.demoOrgs();
  expect(kept?.org.orgId).toBe(demo.org.orgId);
  expect(kept?.org.all('Lead').map((l) => l['Id'])).toEqual(before);
  expect(kept?.queues).toEqual(demo.queues);
  expect(second.writes.list()).toHaveLength(writes);
  // Events kept: a replay id stored by the app stays valid, and new ones come after it.
  expect(second.streaming.state(demo.org.orgId).lastReplayId).toBe(lastReplay);
  const [next] = kept!.createLeads(1);
  expect(before).not.toContain(next?.['Id']);
  expect(String(next?.['Id']) > before.at(-1)!).toBe(true);
  expect(second.streaming.state(demo.org.orgId).lastReplayId).toBeGreaterThan(lastReplay);
  // A new org is not given the kept one's id.
  expect(second.createOrg().orgId).not.toBe(demo.org.orgId);
  await second.stop();

  // Kept again across a second restart, with the lead made in between.
  const third = createSalesforceSandbox({ dataFile });
  expect(third.demoOrgs()[0]?.org.all('Lead')).toHaveLength(4);
  await third.stop();
});

it('refuses a damaged file with a line that says how to start afresh', async () => {
  const dataFile = join(dir, 'sandbox-salesforce.jsonl');
  await writeFile(
    dataFile,
    '{"t":"snapshot","state":{"orgs":[],"orgCounters":{},"writes":[]}}\nnot json\n{}\n',
  );
  expect(() => createSalesforceSandbox({ dataFile })).toThrow(SandboxDataError);
  expect(() => createSalesforceSandbox({ dataFile })).toThrow(/is damaged at line 2 \(npm run demo:reset/);
});

it("gives an org kept before the sandbox had TaskStatus Salesforce's default Task statuses, and keeps them", async () => {
  const dataFile = join(dir, 'sandbox-salesforce.jsonl');
  const orgId = '00D8d0000000001EAA';
  const org = {
    orgId,
    records: { Organization: [{ Id: orgId, Name: 'Old', IsDeleted: false }] },
    counters: {},
  };
  await writeFile(
    dataFile,
    `${JSON.stringify({ t: 'snapshot', state: { orgs: [org], orgCounters: {}, writes: [] } })}\n`,
  );
  const statuses = (s: ReturnType<typeof createSalesforceSandbox>) =>
    s
      .org(orgId)
      .taskStatuses()
      .map((r) => [r['Id'], r['ApiName'], r['IsClosed'], r['IsDefault']]);
  const first = createSalesforceSandbox({ dataFile });
  const seeded = statuses(first);
  expect(seeded.map(([, ...rest]) => rest)).toEqual([
    ['Not Started', false, true],
    ['In Progress', false, false],
    ['Completed', true, false],
    ['Waiting on someone else', false, false],
    ['Deferred', false, false],
  ]);
  await first.stop();
  const second = createSalesforceSandbox({ dataFile });
  expect(statuses(second)).toEqual(seeded);
  await second.stop();
});
