// CRM faults end to end, on PostgreSQL and Redis: the sandbox answers 429, 5xx or hangs up on 20% of API
// calls and drops 10% of webhook deliveries (redelivering them later, as HubSpot does); every lead must
// still be routed exactly once. Then permanent refusals — a sequence deleted, an owner deactivated, a
// missing scope — must become dead letters that say why, and `lead-router dead-letters replay`, run
// after the fix, must route each of them exactly once. The sandbox's write log is the witness.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FaultKind } from '../../connectors/sandbox/index.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';
import type { DecisionRecord, Tenant } from '../../src/storage/index.js';
import { describeNeeding } from '../support/services.js';
import { cli, pgAppEnv, portalWrites, until, type PgAppEnv } from './pg-support.js';

const suite = describeNeeding(['postgres', 'redis']);

const LEADS = 1000;
const CHUNK = 20;
// The connector sets no request timeout of its own, so a hung call ends when the sandbox drops the
// connection: long enough to hold a rate-limiter slot through several other calls, short enough for CI.
const TIMEOUT_HANG_MS = 2000;
const FAULTS = { rate429: 0.07, rate500: 0.07, rateTimeout: 0.06 };
const SEQUENCE = 'Enterprise demo follow-up';
const SEQUENCE_SCOPES = ['automation.sequences.read', 'automation.sequences.enrollments.write'];

const logger = createLogger({ silent: true });

const enrolls = (d: DecisionRecord) => d.actions.some((a) => a.kind === 'enroll_sequence');

/** Starts the demo app (sandbox CRM + app + worker) on its own schema; webhook retries in milliseconds. */
async function start(env: PgAppEnv): Promise<{ app: RunningApp; tenant: Tenant; portalId: number }> {
  const app = await startApp(env.config, {
    logger,
    generate: false,
    sandbox: {
      webhookTiming: { retryScale: 0.01, batchWindowMs: 20 },
      // An injected 429 pauses the whole portal for its window: 1 s, so the burst is not mostly pauses.
      faults: { timeoutHangMs: TIMEOUT_HANG_MS, retryAfterSec: 1 },
    },
    webhooks: { dropRate: 0.1 },
  });
  const [tenant] = await app.storage.listTenants();
  if (tenant === undefined) throw new Error('the OAuth install created no tenant');
  return { app, tenant, portalId: Number(app.sandbox!.portalId) };
}

/** Waits until every contact has a decision, the sandbox delivered everything and the inbox is empty. */
async function settle(app: RunningApp, tenant: Tenant, contactIds: string[]): Promise<DecisionRecord[]> {
  const wanted = new Set(contactIds);
  let decisions: DecisionRecord[] = [];
  await until('a decision for every contact', async () => {
    decisions = (await app.storage.recentDecisions(tenant.id, 100_000)).filter((d) => wanted.has(d.leadId));
    return new Set(decisions.map((d) => d.leadId)).size === wanted.size;
  });
  await app.sandbox!.crm.webhooks.idle();
  await until('the inbox to drain', async () => {
    const stats = await app.storage.inboxStats(tenant.id);
    return stats.pending === 0 && stats.leased === 0;
  });
  return decisions;
}

suite('under CRM faults (PostgreSQL + Redis)', () => {
  let env: PgAppEnv;
  let app: RunningApp;
  let tenant: Tenant;
  let portalId: number;

  beforeAll(async () => {
    env = await pgAppEnv();
    ({ app, tenant, portalId } = await start(env));
  });
  afterAll(async () => {
    await app?.stop();
    await env?.cleanup();
  });

  it(`routes a burst of ${LEADS} contacts exactly once each through 429s, 5xx, hang-ups and dropped webhooks`, async () => {
    const crm = app.sandbox!.crm;
    const injected: Record<FaultKind, number> = { '429': 0, '500': 0, timeout: 0, lost: 0 };
    const decideFault = crm.faults.decide.bind(crm.faults);
    let calls = 0;
    // Counts what the injector decides; the decision itself is the sandbox's own.
    crm.faults.decide = (path: string) => {
      const kind = decideFault(path);
      calls++;
      if (kind !== undefined) injected[kind]++;
      return kind;
    };
    crm.faults.configure(FAULTS);
    const startedAt = Date.now();
    // A list import's pace: 1,000 contacts within about two seconds, in many webhook batches.
    const contacts: string[] = [];
    for (let i = 0; i < LEADS; i += CHUNK) {
      contacts.push(...app.sandbox!.demo.createContacts(Math.min(CHUNK, LEADS - i)).map((c) => c.id));
      await new Promise((r) => setTimeout(r, 40));
    }

    const decisions = await settle(app, tenant, contacts);
    await until(
      'the explanation notes to be written',
      async () => (await app.storage.plannedActionsOfKind('write_note', 10)).length === 0,
    );
    const elapsedMs = Date.now() - startedAt;
    crm.faults.configure({ rate429: 0, rate500: 0, rateTimeout: 0 });

    const writes = portalWrites(crm, portalId);
    const enrolled = new Set(decisions.filter(enrolls).map((d) => d.leadId));
    const noted = new Set(
      decisions.filter((d) => d.actions.some((a) => a.kind === 'write_note')).map((d) => d.leadId),
    );
    for (const id of contacts) {
      expect([id, writes.owners.get(id)]).toEqual([id, 1]);
      expect([id, writes.tasks.get(id)]).toEqual([id, 1]);
      expect([id, writes.enrollments.get(id) ?? 0]).toEqual([id, enrolled.has(id) ? 1 : 0]);
      expect([id, writes.notes.get(id) ?? 0]).toEqual([id, noted.has(id) ? 1 : 0]);
    }
    expect(writes.owners.size).toBe(LEADS);
    expect(writes.taskSubjects).toHaveLength(LEADS);
    // One decision per lead, and nothing stuck or dead.
    expect(decisions).toHaveLength(LEADS);
    expect(await app.storage.inboxStats(tenant.id)).toMatchObject({ pending: 0, leased: 0, failed: 0 });
    expect(await app.storage.deadLetters(tenant.id)).toEqual([]);

    // The faults really happened, of every kind.
    const dropped = crm.webhooks.attempts.filter((a) => a.outcome === 'dropped').length;
    expect(injected['429']).toBeGreaterThan(0);
    expect(injected['500']).toBeGreaterThan(0);
    expect(injected.timeout).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
    console.log(
      `CRM faults: ${JSON.stringify({
        leads: LEADS,
        apiCalls: calls,
        injected,
        webhookDeliveries: crm.webhooks.attempts.length,
        webhooksDropped: dropped,
        enrollments: enrolled.size,
        notes: noted.size,
        elapsedMs,
      })}`,
    );
  }, 240_000);
});

// Every demo request gets the sequence and a third of all leads go to Nina, so each refusal below hits
// many leads of a small burst, and the others must be unaffected.
const REFUSAL_RULES = [
  'name: Refusals under test',
  'pools:',
  '  ae: { members: [ada@acme.io, nina@acme.io, omar@acme.io], strategy: round_robin, fallback: { queue: SMB } }',
  'routes:',
  '  - name: Demo requests get the follow-up sequence',
  '    when: { demo_requested: true }',
  '    assign: { pool: ae }',
  "    task: { subject: 'Demo request from {{email}}', due: 15m, priority: high }",
  `    sequence: ${SEQUENCE}`,
  '  - name: Everyone else goes to the pool',
  '    assign: { pool: ae }',
  "    task: { subject: 'New lead {{email}}', due: 2h }",
  'fallback: { queue: SMB }',
  // A queue needs a CRM target: the demo portal's SMB team.
  'team:',
  '  reps: { ada@acme.io: {}, nina@acme.io: {}, omar@acme.io: {} }',
  "  queues: { SMB: { team: '410004' } }",
].join('\n');

suite('permanent CRM refusals (PostgreSQL + Redis)', () => {
  let env: PgAppEnv;
  let app: RunningApp;
  let tenant: Tenant;
  let portalId: number;
  const all: string[] = [];
  let deadTotal = 0;
  let replayedTotal = 0;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-refusals-'));
    await writeFile(join(dir, 'rules.yaml'), REFUSAL_RULES);
    env = await pgAppEnv({ RULES: join(dir, 'rules.yaml') });
    ({ app, tenant, portalId } = await start(env));
  });
  afterAll(async () => {
    await app?.stop();
    await env?.cleanup();
    console.log(
      `CRM refusals: ${JSON.stringify({ leads: all.length, deadLetters: deadTotal, replayed: replayedTotal })}`,
    );
  });

  /** Creates contacts while the portal is misconfigured; returns their decisions once all are handled. */
  async function burst(n: number): Promise<DecisionRecord[]> {
    const ids = app.sandbox!.demo.createContacts(n).map((c) => c.id);
    all.push(...ids);
    return settle(app, tenant, ids);
  }

  async function deadLeads(): Promise<{ lead: string; reason: string }[]> {
    return (await app.storage.deadLetters(tenant.id)).map((d) => ({
      lead: d.event.objectId,
      reason: d.lastError ?? '',
    }));
  }

  /**
   * `lead-router dead-letters list` and `replay`, run as an operator would once the cause is fixed;
   * waits until the worker has handled the replayed leads. Returns the listed lines.
   */
  async function listAndReplay(): Promise<string[]> {
    const dead = await app.storage.deadLetters(tenant.id);
    const listed = (await cli(env.env, ['dead-letters', 'list', '--tenant', String(portalId)]))
      .trim()
      .split('\n');
    expect(listed).toHaveLength(dead.length);
    const replayed = (await cli(env.env, ['dead-letters', 'replay', '--tenant', String(portalId)]))
      .trim()
      .split('\n');
    expect(replayed.sort()).toEqual(dead.map((d) => `#${d.id} queued again`).sort());
    deadTotal += dead.length;
    replayedTotal += replayed.length;
    await until('the replayed leads to be handled', async () => {
      const stats = await app.storage.inboxStats(tenant.id);
      return stats.pending === 0 && stats.leased === 0;
    });
    expect(await deadLeads()).toEqual([]);
    return listed;
  }

  it('a sequence deleted before the worker read the list: dead letters name it; recreated, replayed once', async () => {
    const portal = app.sandbox!.demo.portal;
    expect(portal.deleteSequence(portal.sequenceByName(SEQUENCE)!.id)).toBe(true);

    const decisions = await burst(80);
    const needSequence = decisions
      .filter(enrolls)
      .map((d) => d.leadId)
      .sort();
    expect(needSequence.length).toBeGreaterThan(0);
    const dead = await deadLeads();
    expect(dead.map((d) => d.lead).sort()).toEqual(needSequence);
    for (const d of dead)
      expect(d.reason).toBe(
        `enroll contact ${d.lead} in sequence '${SEQUENCE}': configuration error: no sequence named '${SEQUENCE}'`,
      );
    // The rest of each refused lead's routing went through.
    const before = portalWrites(app.sandbox!.crm, portalId);
    for (const id of needSequence)
      expect([id, before.owners.get(id), before.tasks.get(id)]).toEqual([id, 1, 1]);

    const recreated = portal.addSequence(SEQUENCE, portal.ownerByEmail('ada@acme.io')!.userId);
    const listed = await listAndReplay();
    for (const line of listed)
      expect(line).toMatch(
        /^#\d+ \S+ contact\.creation object \d+: enroll contact \d+ in sequence .*: configuration error: no sequence named/,
      );

    const writes = portalWrites(app.sandbox!.crm, portalId);
    for (const id of needSequence) expect([id, writes.enrollments.get(id)]).toEqual([id, 1]);
    const enrollments = app.sandbox!.crm.writes.list({ portalId, kind: 'enrollment.created', source: 'api' });
    expect(enrollments.every((w) => w.details['sequenceId'] === recreated.id)).toBe(true);
  });

  // Nina is deactivated after the worker read the directory (where she is active), as happens when an
  // admin deactivates a user while leads arrive: HubSpot refuses her as owner, task owner and sender.
  let ninaId: string;
  let ninaBurst: DecisionRecord[] = [];

  it('a deactivated owner: exactly the leads assigned to that owner become dead letters, saying why', async () => {
    const portal = app.sandbox!.demo.portal;
    ninaId = portal.setOwnerActive(portal.ownerByEmail('nina@acme.io')!.id, false).id;
    ninaBurst = await burst(80);
    const toNina = ninaBurst
      .filter((d) => d.owner === 'nina@acme.io')
      .map((d) => d.leadId)
      .sort();
    expect(toNina.length).toBeGreaterThan(0);
    const dead = await deadLeads();
    for (const d of dead) {
      expect(d.reason).toContain(
        `set owner of contact ${d.lead} to nina@acme.io: HubSpot refused: Property values were not valid:`,
      );
      expect(d.reason).toContain(`${ninaId} is not a valid owner id`);
      expect(d.reason).toContain(
        `create task for contact ${d.lead} assigned to nina@acme.io: HubSpot refused:`,
      );
    }
    expect(dead.map((d) => d.lead).sort()).toEqual(toNina);
  });

  it("after reactivation, the replay writes each dead letter's owner and task once", async () => {
    expect((await deadLeads()).length).toBeGreaterThan(0);
    const portal = app.sandbox!.demo.portal;
    portal.setOwnerActive(ninaId, true);
    await listAndReplay();
    const writes = portalWrites(app.sandbox!.crm, portalId);
    for (const d of ninaBurst) {
      const ownerId = portal.ownerByEmail(d.owner ?? '')!.id;
      expect([d.leadId, writes.ownerIds.get(d.leadId)]).toEqual([d.leadId, [ownerId]]);
      expect([d.leadId, writes.tasks.get(d.leadId)]).toEqual([d.leadId, 1]);
      expect([d.leadId, writes.enrollments.get(d.leadId) ?? 0]).toEqual([d.leadId, enrolls(d) ? 1 : 0]);
    }
  });

  it('a missing scope: dead letters say which; after a reinstall that grants it, replayed once', async () => {
    const crm = app.sandbox!.crm;
    // The portal stops granting the optional sequence scopes and the admin reinstalls through OAuth.
    crm.tokens.withholdScopes(portalId, SEQUENCE_SCOPES);
    await reinstall();
    const stored = JSON.parse((await app.storage.getTenantToken(tenant.id))!) as { scopes: string[] };
    expect(stored.scopes).not.toContain('automation.sequences.enrollments.write');

    const decisions = await burst(80);
    const needSequence = decisions
      .filter(enrolls)
      .map((d) => d.leadId)
      .sort();
    expect(needSequence.length).toBeGreaterThan(0);
    const dead = await deadLeads();
    expect(dead.map((d) => d.lead).sort()).toEqual(needSequence);
    for (const d of dead)
      expect(d.reason).toMatch(
        new RegExp(
          `^enroll contact ${d.lead} in sequence '${SEQUENCE}': HubSpot refused: HubSpot app is missing scope: automation\\.sequences\\.\\S+ \\(reinstall the app to grant it\\)$`,
        ),
      );

    crm.tokens.allowScopes(portalId, SEQUENCE_SCOPES);
    await reinstall();
    await listAndReplay();
    const writes = portalWrites(crm, portalId);
    for (const id of needSequence) expect([id, writes.enrollments.get(id)]).toEqual([id, 1]);
  });

  it('leaves every lead of the three refusals routed exactly once, and nothing dead or stuck', async () => {
    const writes = portalWrites(app.sandbox!.crm, portalId);
    const decisions = (await app.storage.recentDecisions(tenant.id, 10_000)).filter((d) =>
      all.includes(d.leadId),
    );
    expect(decisions).toHaveLength(all.length);
    for (const d of decisions) {
      expect([d.leadId, writes.owners.get(d.leadId)]).toEqual([d.leadId, 1]);
      expect([d.leadId, writes.tasks.get(d.leadId)]).toEqual([d.leadId, 1]);
      expect([d.leadId, writes.enrollments.get(d.leadId) ?? 0]).toEqual([d.leadId, enrolls(d) ? 1 : 0]);
    }
    expect(await app.storage.inboxStats(tenant.id)).toMatchObject({ pending: 0, leased: 0, failed: 0 });
  });

  // Last, because it leaves dead letters behind while the worker keeps the deleted sequence's id.
  it('a sequence deleted after the worker read the list: recreated, the replay enrolls each lead once', async () => {
    const portal = app.sandbox!.demo.portal;
    expect(portal.deleteSequence(portal.sequenceByName(SEQUENCE)!.id)).toBe(true);
    const decisions = await burst(80);
    const needSequence = decisions
      .filter(enrolls)
      .map((d) => d.leadId)
      .sort();
    expect(needSequence.length).toBeGreaterThan(0);
    const dead = await deadLeads();
    expect(dead.map((d) => d.lead).sort()).toEqual(needSequence);
    for (const d of dead)
      expect(d.reason).toMatch(
        new RegExp(
          `^enroll contact ${d.lead} in sequence '${SEQUENCE}': (HubSpot refused: .*not found|configuration error: no sequence named)`,
          'i',
        ),
      );

    const recreated = portal.addSequence(SEQUENCE, portal.ownerByEmail('ada@acme.io')!.userId);
    await listAndReplay();
    const enrolled = app
      .sandbox!.crm.writes.list({ portalId, kind: 'enrollment.created', source: 'api' })
      .filter((w) => needSequence.includes(w.objectId));
    expect(enrolled.map((w) => [w.objectId, w.details['sequenceId']]).sort()).toEqual(
      needSequence.map((id) => [id, recreated.id]),
    );
  });

  async function reinstall(): Promise<void> {
    const res = await fetch(`${app.url}/oauth/hubspot/install?portalId=${portalId}`, { redirect: 'follow' });
    expect([res.status, (await res.text()).includes('installed')]).toEqual([200, true]);
  }
});
