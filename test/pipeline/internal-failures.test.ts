// Failures that are ours, not the CRM's: a bug thrown in the pipeline is logged as a bug with its stack
// and never reported as "HubSpot answered …"; a stored action payload that does not parse dead-letters
// its own lead with the table and row named, while the other leads of the batch are routed.
import type { HubSpotConnector } from '../../connectors/hubspot/connector.js';
import { capturingLogger } from '../support/logs.js';
import { setup, T0, TENANT, useSandbox } from './support.js';

const sandbox = useSandbox();

it('a bug thrown while routing: logged once with kind bug and its stack; the reason is not the CRM’s', async () => {
  const env = await setup(sandbox());
  const contacts = env.demo.createContacts(3, 'import');
  await env.enqueueCreated(contacts);
  // A real TypeError from code that reads a field that is not there.
  function brokenReadLeads(): Promise<never> {
    const answer: { ids?: string[] } = {};
    return Promise.resolve(new Map(answer.ids!.map((id) => [id, id])) as never);
  }
  const buggy = Object.assign(Object.create(env.connector) as HubSpotConnector, {
    readLeads: brokenReadLeads,
  });
  const { logger, records } = capturingLogger();
  await env.worker('w1', { registry: env.registryWith(buggy), logger }).runOnce();

  const bugs = records().filter((l) => l['message'] === 'bug in the worker');
  expect(bugs).toHaveLength(1);
  expect(bugs[0]).toMatchObject({ tenantId: TENANT, kind: 'bug', level: 'error' });
  expect(String(bugs[0]!['stack'])).toMatch(
    /^TypeError: .*\n\s+at \S*brokenReadLeads .*\n\s+at readLeadInputs .*\n\s+at BatchDecider\.readInputs/,
  );

  const [item] = await env.storage.claim({ workerId: 'peek', limit: 1, leaseMs: 1, now: T0 + 3_600_000 });
  expect(item?.lastError).toMatch(
    /^route contact \d+: internal bug error: Cannot read properties of undefined \(reading 'map'\)$/,
  );
  expect(item?.lastError).not.toContain('HubSpot');
  await env.close();
});

it('a corrupted stored action payload: its lead is dead-lettered naming table and row; the others are routed', async () => {
  const env = await setup(sandbox());
  const contacts = env.demo.createContacts(3, 'import');
  await env.enqueueCreated(contacts);
  // The task batch fails once, so the tasks stay planned in storage for the retry to read back.
  sandbox().crm.faults.failNext('500', 1, '/crm/v3/objects/tasks/batch/create');
  const worker = env.worker();
  expect(await worker.runOnce()).toBe(3);

  const victim = contacts[1]!.id;
  const row = await env.storage.db.get<{ id: number }>(
    "SELECT id FROM actions WHERE lead_id = ? AND kind = 'create_task'",
    [victim],
  );
  await env.storage.db.run('UPDATE actions SET payload = ? WHERE id = ?', [
    JSON.stringify({ kind: 'create_task', subject: 42 }),
    row!.id,
  ]);

  env.clock.now = T0 + 3_600_000;
  await env.drain(worker);

  const dead = await env.storage.deadLetters(TENANT);
  expect(dead.map((d) => d.event.objectId)).toEqual([victim]);
  expect(dead[0]!.lastError).toMatch(
    new RegExp(
      `^read the stored decision of contact ${victim}: internal storage error: actions\\.payload of row ${row!.id} is not what lead-router writes: subject: Expected string, received number`,
    ),
  );
  for (const c of contacts) {
    expect(env.writes('owner.set', c.id)).toHaveLength(1);
    expect(env.tasksFor(c.id)).toHaveLength(c.id === victim ? 0 : 1);
  }
  await env.close();
});
