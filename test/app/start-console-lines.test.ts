// The line `npm start` prints per lead comes when the lead's routing settled: a lead whose owner write the
// CRM refuses is a dead letter on the console, with the reason and the command that lists it, and never
// announced as routed first (it was, at the decision, before the write). So is one the reaper
// dead-letters after its lease expired too often.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/app/config.js';
import { outcomeLine } from '../../src/app/outcome-line.js';
import { startApp, type LeadOutcome, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';

// Every lead goes to Nina, so deactivating her makes the next owner write one the CRM refuses.
const RULES = [
  'name: Everyone to Nina',
  'pools:',
  '  ae: { members: [nina@acme.io], strategy: round_robin, fallback: { queue: SMB } }',
  'routes:',
  '  - name: Everyone goes to Nina',
  '    assign: { pool: ae }',
  "    task: { subject: 'New lead {{email}}', due: 2h }",
  'fallback: { queue: SMB }',
  'team:',
  '  reps: { nina@acme.io: {} }',
  "  queues: { SMB: { team: '410004' } }",
].join('\n');

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let app: RunningApp | undefined;
afterEach(async () => {
  await app?.stop();
  app = undefined;
});

/** The app over the HubSpot sandbox with RULES, as `npm start` runs it; the console's lines per lead. */
async function startWithConsole(): Promise<{
  app: RunningApp;
  lines: Map<string, string[]>;
  /** Per lead, its owner in the CRM when its line was printed. */
  ownerAtLine: Map<string, string | undefined>;
  logs: string[];
}> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-console-'));
  await writeFile(join(dir, 'rules.yaml'), RULES);
  const config = loadConfig({
    PORT: '0',
    SANDBOX_PORT: '0',
    DATA_DIR: join(dir, 'data'),
    DEMO_RATE: '0',
    RULES: join(dir, 'rules.yaml'),
  });
  const lines = new Map<string, string[]>();
  const ownerAtLine = new Map<string, string | undefined>();
  const logs: string[] = [];
  const logger = createLogger({
    level: 'warn',
    stream: new Writable({
      write: (chunk: Buffer, _e, done) => {
        logs.push(chunk.toString());
        done();
      },
    }),
  });
  const print = (o: LeadOutcome): void => {
    lines.set(o.leadId, [...(lines.get(o.leadId) ?? []), outcomeLine(o, Date.now())]);
    ownerAtLine.set(
      o.leadId,
      started.sandbox!.demo.portal.objects.contacts.get(o.leadId)?.properties['hubspot_owner_id'],
    );
  };
  const started: RunningApp = await startApp(config, { logger, generate: false, onSettled: print });
  app = started;
  return { app: started, lines, ownerAtLine, logs };
}

it('prints a lead whose owner write the CRM refuses as a dead letter with its reason, never as routed', async () => {
  const { app, lines, ownerAtLine } = await startWithConsole();
  const { demo } = app.sandbox!;
  const nina = demo.portal.ownerByEmail('nina@acme.io')!.id;

  // A first lead is routed (and the worker has read the portal's users, Nina active among them).
  const [routed] = demo.createContacts(1).map((c) => c.id);
  await until('the first lead settled', () => lines.has(routed!));
  expect(lines.get(routed!)).toEqual([
    expect.stringMatching(/ → nina@acme\.io \(Everyone goes to Nina; .* s after creation$/),
  ]);
  // Printed once the CRM had its owner.
  expect(ownerAtLine.get(routed!)).toBe(nina);

  // Nina is deactivated after the worker read the users: the next lead is decided for her, and HubSpot
  // refuses her as its owner.
  demo.portal.setOwnerActive(nina, false);
  const [contact] = demo.createContacts(1);
  const refused = contact!.id;
  const email = String(contact!.properties['email']);
  await until('the refused lead settled', () => lines.has(refused));
  const shown = lines.get(refused)!;
  expect(shown).toEqual([
    expect.stringMatching(
      new RegExp(
        `^${email.replace(/[.+]/g, '\\$&')} ✗ not routed, dead letter #\\d+: set owner of contact ${refused} to nina@acme\\.io: HubSpot refused: .* · see: npm run cli -- dead-letters list$`,
      ),
    ),
  ]);
  // The number is the dead letter's, as `dead-letters list` and `replay` name it.
  const tenant = (await app.storage.findTenant('hubspot', app.sandbox!.portalId))!;
  const [dead] = await app.storage.deadLetters(tenant.id);
  expect(dead?.event.objectId).toBe(refused);
  expect(shown[0]).toContain(` dead letter #${dead!.id}: `);
  expect(shown.join('\n')).not.toContain('→');
});

it('prints a lead whose owner write fails for now once, when a later attempt has written it', async () => {
  const { app, lines, ownerAtLine, logs } = await startWithConsole();
  const { demo, crm } = app.sandbox!;
  // More 500s than one call retries: the lead is retried later, and written then.
  crm.faults.failNext('500', 5, '/crm/v3/objects/contacts/batch/update');
  const [lead] = demo.createContacts(1).map((c) => c.id);
  await until('the lead settled', () => lines.has(lead!));
  expect(logs.some((l) => l.includes('lead will be retried') && l.includes(`"leadId":"${lead}"`))).toBe(true);
  expect(lines.get(lead!)).toEqual([expect.stringMatching(/ → nina@acme\.io \(Everyone goes to Nina; /)]);
  expect(ownerAtLine.get(lead!)).toBe(demo.portal.ownerByEmail('nina@acme.io')!.id);
});

it('prints a lead the reaper dead-letters after too many expired leases as a dead letter with its reason', async () => {
  const { app, lines } = await startWithConsole();
  const worker = app.worker!;
  // The test runs the reaper itself, between the claims of a worker that dies each time it takes the lead.
  await worker.stop();
  const tenant = (await app.storage.findTenant('hubspot', app.sandbox!.portalId))!;
  const base = Date.now();
  await app.storage.enqueue(
    [
      {
        tenantId: tenant.id,
        event: {
          eventId: 'poison',
          subscription: 'contact.creation',
          kind: 'created',
          objectId: '424242',
          occurredAt: base,
        },
      },
    ],
    base,
  );
  for (let round = 1; (await app.storage.deadLetters(tenant.id)).length === 0; round++) {
    if (round > 20) throw new Error('the reaper never dead-lettered the lead');
    const at = base + round * 10;
    expect(await app.storage.claim({ workerId: 'dies', limit: 1, leaseMs: 1, now: at })).toHaveLength(1);
    await worker.housekeep(at + 2);
  }
  const [dead] = await app.storage.deadLetters(tenant.id);
  expect(dead?.lastError).toMatch(/^lease expired after \d+ attempts$/);
  expect(lines.get('424242')).toEqual([
    `lead 424242 ✗ not routed, dead letter #${dead!.id}: ${dead!.lastError} · see: npm run cli -- dead-letters list`,
  ]);
});
