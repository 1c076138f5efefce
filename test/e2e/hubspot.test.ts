// End to end over real HTTP: the sandbox CRM creates contacts and delivers signed webhooks (with
// duplicates and out-of-order batches, as HubSpot does); the app verifies, enqueues, routes and writes
// back through the real @hubspot/api-client. The sandbox's write log is the witness of "exactly once".
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signV3 } from '../../connectors/hubspot/signature.js';
import { loadConfig, type AppConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { replayDeadLetters } from '../../src/cli/operate.js';
import { createLogger } from '../../src/log.js';

const logger = createLogger({ silent: true });

async function config(over: Record<string, string> = {}): Promise<AppConfig> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-e2e-'));
  return loadConfig({ PORT: '0', SANDBOX_PORT: '0', DATA_DIR: dataDir, DEMO_RATE: '0', ...over });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

describe('HubSpot end to end over the sandbox CRM', () => {
  let app: RunningApp;
  let tenantId: string;

  beforeAll(async () => {
    app = await startApp(await config(), {
      logger,
      generate: false,
      sandbox: { webhookTiming: { retryScale: 0.01, batchWindowMs: 20 } },
      webhooks: { duplicateRate: 0.2, outOfOrder: true },
    });
    const [tenant] = await app.storage.listTenants();
    if (tenant === undefined) throw new Error('the OAuth install created no tenant');
    tenantId = tenant.id;
  });
  afterAll(() => app.stop());

  it('routes 500 new contacts exactly once each: one owner write, one task, at most one enrollment', async () => {
    const sandbox = app.sandbox!;
    const portalId = Number(sandbox.portalId);
    const contacts = sandbox.demo.createContacts(500).map((c) => c.id);

    await until('every contact to be routed', async () => {
      const done = (await app.storage.inboxStats(tenantId)).done;
      const owners = new Set(
        sandbox.crm.writes.list({ portalId, kind: 'owner.set', source: 'api' }).map((w) => w.objectId),
      );
      return owners.size === contacts.length && done >= contacts.length && app.worker !== undefined;
    });
    // Let redeliveries and duplicates that are still in flight arrive and be handled.
    await until('the sandbox to finish delivering', async () => {
      await sandbox.crm.webhooks.idle();
      const stats = await app.storage.inboxStats(tenantId);
      return stats.pending === 0 && stats.leased === 0;
    });

    const writes = sandbox.crm.writes.list({ portalId, source: 'api' });
    const ownerWrites = countBy(writes.filter((w) => w.kind === 'owner.set').map((w) => w.objectId));
    const taskIds = new Set(writes.filter((w) => w.kind === 'task.created').map((w) => w.objectId));
    const tasksPerContact = countBy(
      writes
        .filter(
          (w) =>
            w.kind === 'association.created' && taskIds.has(w.objectId) && w.details['toType'] === 'contacts',
        )
        .map((w) => w.details['toId'] ?? ''),
    );
    const enrollments = countBy(writes.filter((w) => w.kind === 'enrollment.created').map((w) => w.objectId));

    for (const id of contacts) {
      expect([id, ownerWrites.get(id)]).toEqual([id, 1]);
      expect([id, tasksPerContact.get(id)]).toEqual([id, 1]);
      expect(enrollments.get(id) ?? 0).toBeLessThanOrEqual(1);
    }
    expect(taskIds.size).toBe(contacts.length);
    // Every contact has exactly one routing decision on record, with its explanation.
    const decisions = await app.storage.recentDecisions(tenantId, 5000);
    expect(countBy(decisions.map((d) => d.leadId)).size).toBe(contacts.length);
    expect(decisions.length).toBe(contacts.length);
    expect(decisions.every((d) => d.summary.includes('→'))).toBe(true);
    // Explanation notes are gathered into full batches and written once each, shortly after routing.
    await until(
      'the explanation notes to be written',
      async () => (await app.storage.plannedActionsOfKind('write_note', 10)).length === 0,
    );
    const withNote = decisions
      .filter((d) => d.actions.some((a) => a.kind === 'write_note'))
      .map((d) => d.leadId);
    const noteWrites = sandbox.crm.writes.list({ portalId, kind: 'note.created', source: 'api' });
    expect(withNote.length).toBeGreaterThan(0);
    expect(noteWrites).toHaveLength(withNote.length);
    // Duplicates really were delivered, and changed nothing.
    expect(sandbox.crm.webhooks.attempts.length).toBeGreaterThan(0);
  });

  it('answers a bad signature with 401 and enqueues nothing', async () => {
    const before = await app.storage.inboxStats(tenantId);
    const body = JSON.stringify([
      {
        eventId: 1,
        subscriptionId: 1,
        portalId: Number(app.sandbox!.portalId),
        appId: 4242,
        occurredAt: Date.now(),
        subscriptionType: 'contact.creation',
        attemptNumber: 0,
        objectId: 999999,
        changeFlag: 'CREATED',
        changeSource: 'CRM',
      },
    ]);
    const timestamp = String(Date.now());
    const uri = `${app.url}/webhooks/hubspot`;
    const signature = signV3({
      clientSecret: 'not-the-secret',
      method: 'POST',
      uri,
      rawBody: body,
      timestamp,
    });
    const res = await fetch(uri, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hubspot-signature-v3': signature,
        'x-hubspot-request-timestamp': timestamp,
      },
      body,
    });
    expect(res.status).toBe(401);
    expect(await app.storage.inboxStats(tenantId)).toEqual(before);
  });
});

describe('a CRM refusal', () => {
  let app: RunningApp;
  afterAll(() => app.stop());

  it('becomes a readable dead letter, and the other leads are still routed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-e2e-rules-'));
    const rules = join(dir, 'rules.yaml');
    // dev@acme.io has no Sales seat in the demo portal: HubSpot refuses to enroll with him as sender.
    await writeFile(
      rules,
      [
        'name: Seatless sender',
        'routes:',
        '  - name: Free mail goes to Dev with a sequence',
        '    when: { email: free_mail }',
        '    assign: { rep: dev@acme.io }',
        '    task: { subject: "Follow up {{email}}", due: 1h }',
        '    sequence: Enterprise demo follow-up',
        '  - name: Everyone else goes to Ada',
        '    assign: { rep: ada@acme.io }',
        '    task: { subject: "Follow up {{email}}", due: 1h }',
        'fallback: { queue: SMB }',
        // A queue needs a CRM target: the demo portal's SMB team.
        'team:',
        '  reps: { dev@acme.io: {}, ada@acme.io: {} }',
        "  queues: { SMB: { team: '410004' } }",
      ].join('\n'),
    );
    app = await startApp(await config({ RULES: rules }), {
      logger,
      generate: false,
      sandbox: { webhookTiming: { retryScale: 0.01, batchWindowMs: 20 } },
    });
    const sandbox = app.sandbox!;
    const [tenant] = await app.storage.listTenants();
    const contacts = sandbox.demo.createContacts(60);

    await until('all contacts handled', async () => {
      const stats = await app.storage.inboxStats(tenant!.id);
      return stats.done + stats.failed >= contacts.length && stats.pending === 0 && stats.leased === 0;
    });
    const dead = await app.storage.deadLetters(tenant!.id);
    const decisions = await app.storage.recentDecisions(tenant!.id, 500);
    const toDev = decisions
      .filter((d) => d.owner === 'dev@acme.io')
      .map((d) => d.leadId)
      .sort();
    expect(toDev.length).toBeGreaterThan(0);
    expect(dead.map((d) => d.event.objectId).sort()).toEqual(toDev);
    for (const d of dead)
      expect(d.lastError).toMatch(
        /^enroll contact \d+ in sequence 'Enterprise demo follow-up': HubSpot refused: .*[Ss]eat/,
      );
    // Everyone else is routed, and the refused leads still got their owner and task.
    const portalId = Number(sandbox.portalId);
    const ownerWrites = new Set(
      sandbox.crm.writes.list({ portalId, kind: 'owner.set', source: 'api' }).map((w) => w.objectId),
    );
    expect(ownerWrites.size).toBe(contacts.length);

    // The admin buys Dev a seat; replaying the dead letters enrolls each lead once and writes nothing twice.
    const dev = [...sandbox.demo.portal.owners.values()].find((o) => o.email === 'dev@acme.io');
    dev!.salesSeat = true;
    const replayed = await replayDeadLetters(app.storage, tenant!, [], Date.now());
    expect(replayed.queued).toHaveLength(toDev.length);
    expect(replayed.refused).toEqual([]);
    app.worker?.wake();
    await until('the replayed leads to be enrolled', async () => {
      const stats = await app.storage.inboxStats(tenant!.id);
      return stats.failed === 0 && stats.pending === 0 && stats.leased === 0;
    });
    const writes = sandbox.crm.writes.list({ portalId, source: 'api' });
    const enrolled = countBy(writes.filter((w) => w.kind === 'enrollment.created').map((w) => w.objectId));
    expect([...enrolled.keys()].sort()).toEqual(toDev);
    expect([...enrolled.values()].every((n) => n === 1)).toBe(true);
    const owners = countBy(writes.filter((w) => w.kind === 'owner.set').map((w) => w.objectId));
    expect([...owners.values()].every((n) => n === 1)).toBe(true);
    expect(writes.filter((w) => w.kind === 'task.created')).toHaveLength(contacts.length);
  });
});
