// The worker end to end: the real HubSpotConnector against a started sandbox, storage on SQLite, a rule
// set loaded from YAML. The sandbox's write log is the judge of "exactly once".
import { join } from 'node:path';
import { bulkEvent } from '../../src/pipeline/bulk/purpose.js';
import { HOLD_TIMEOUT_SUBSCRIPTION, Worker } from '../../src/pipeline/worker.js';
import { DecisionInputRepository, Storage } from '../../src/storage/index.js';
import { changed, created, ENGINES, logger, NA, setup, T0, TENANT, useSandbox, type Env } from './support.js';
import { capturingLogger } from '../support/logs.js';

const sandbox = useSandbox();

describe('Worker', () => {
  it('routes N contacts once each, and running the same events again changes nothing', async () => {
    const env = await setup(sandbox());
    const contacts = env.demo.createContacts(25, 'import');
    expect(await env.enqueueCreated(contacts)).toBe(25);
    await env.drain(env.worker());

    expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 25, failed: 0 });
    const ownerIds = new Map(env.demo.owners.map((o) => [o.id, o.email]));
    for (const c of contacts) {
      const owners = env.writes('owner.set', c.id);
      expect(owners).toHaveLength(1);
      expect(NA).toContain(ownerIds.get(owners[0]!.details['to'] ?? ''));
      expect(env.tasksFor(c.id)).toHaveLength(1);
      expect(env.writes('enrollment.created', c.id).length).toBeLessThanOrEqual(1);
    }
    // Round robin over four reps: 25 leads are spread 7/6/6/6.
    const perRep = new Map<string, number>();
    for (const d of env.decisions) {
      const dest = d.decision.destination;
      if (dest.kind === 'rep') perRep.set(dest.email, (perRep.get(dest.email) ?? 0) + 1);
    }
    expect([...perRep.values()].sort()).toEqual([6, 6, 6, 7]);
    expect(env.decisions.map((d) => d.summary).every((s) => s.length > 0)).toBe(true);
    // Each decision keeps the lead it was decided on, so it can be decided again under another version.
    const kept = await new DecisionInputRepository(env.storage.db).recent(TENANT, 100);
    expect(kept.map((k) => k.lead).sort((x, y) => x.id.localeCompare(y.id))).toEqual(
      env.decisions.map((d) => d.lead).sort((x, y) => x.id.localeCompare(y.id)),
    );

    const before = sandbox().crm.writes.list({ portalId: env.portalId, source: 'api' }).length;
    // The same events (deduplicated by the inbox) and the same creations under new event ids.
    expect(await env.enqueueCreated(contacts)).toBe(0);
    expect(await env.enqueueCreated(contacts, 'redelivered')).toBe(25);
    await env.drain(env.worker('w2'));
    expect(await env.storage.inboxStats(TENANT)).toMatchObject({ done: 50, failed: 0 });
    expect(sandbox().crm.writes.list({ portalId: env.portalId, source: 'api' })).toHaveLength(before);
    expect(env.decisions).toHaveLength(25);
    await env.close();
  });

  it('a batch joins the account lookup another batch has in flight for the same domain', async () => {
    const env = await setup(sandbox());
    const [d1, d2, d3] = env.demo.companies.slice(0, 3).map((c) => c.properties['domain'] ?? '');
    const contact = (email: string) =>
      env.demo.portal.createObject('contacts', { email, firstname: 'Lee', lastname: 'Ray' }, 'import');
    // Claimed in this order, two a batch: the batches share d1.
    const contacts = [`a@${d1}`, `b@${d2}`, `c@${d1}`, `d@${d3}`].map(contact);
    await env.enqueueCreated(contacts);
    const lookups: string[][] = [];
    let reads = 0;
    let bothRead!: () => void;
    const read = new Promise<void>((resolve) => (bothRead = resolve));
    // The CRM answers no account lookup before both batches have read their leads: the first batch's
    // lookup is surely in flight when the second asks for its domains.
    const gated = new Proxy(env.connector, {
      get(target, key) {
        if (key === 'readLeads')
          return async (...args: Parameters<typeof target.readLeads>) => {
            const leads = await target.readLeads(...args);
            if (++reads === 2) bothRead();
            return leads;
          };
        if (key === 'findAccountsByDomain')
          return async (domains: string[]) => {
            lookups.push([...domains].sort());
            await read;
            await new Promise((r) => setImmediate(r));
            return target.findAccountsByDomain(domains);
          };
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const worker = env.worker('w1', { registry: env.registryWith(gated), batchSize: 2 });
    expect(await Promise.all([worker.runOnce(), worker.runOnce()])).toEqual([2, 2]);

    expect(lookups).toEqual([[d1, d2].sort(), [d3]]);
    expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 4, failed: 0 });
    for (const c of contacts) expect(env.writes('owner.set', c.id)).toHaveLength(1);
    await env.close();
  });

  it('two workers on one SQLite file route each contact once', async () => {
    const env = await setup(sandbox(), { file: join(sandbox().dir, 'two-workers.sqlite') });
    const second = await env.openStorage();
    const contacts = env.demo.createContacts(30, 'import');
    await env.enqueueCreated(contacts);
    await Promise.all([env.drain(env.worker('a')), env.drain(env.worker('b', { storage: second }))]);

    expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 30, failed: 0 });
    for (const c of contacts) {
      expect(env.writes('owner.set', c.id)).toHaveLength(1);
      expect(env.tasksFor(c.id)).toHaveLength(1);
    }
    expect(env.decisions).toHaveLength(30);
    await env.close();
  });

  it('concurrent lanes committing batches on one rotation: every turn handed out once', async () => {
    const env = await setup(sandbox());
    const contacts = env.demo.createContacts(24, 'import');
    await env.enqueueCreated(contacts);
    const worker = new Worker({
      storage: env.storage,
      registry: env.registry,
      workerId: 'lanes',
      clock: () => env.clock.now,
      logger,
      batchSize: 5,
      concurrency: 4,
      onDecision: (info) => env.decisions.push(info),
    });
    worker.start();
    for (let i = 0; i < 500 && (await env.storage.inboxStats(TENANT)).done < 24; i++)
      await new Promise((r) => setTimeout(r, 20));
    await worker.stop();

    expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 24, failed: 0 });
    for (const c of contacts) expect(env.writes('owner.set', c.id)).toHaveLength(1);
    // Round robin over four reps, whichever lane decided which lead: 6 each, turns 1…24 once each.
    const perRep = new Map<string, number>();
    for (const d of env.decisions) {
      const dest = d.decision.destination;
      if (dest.kind === 'rep') perRep.set(dest.email, (perRep.get(dest.email) ?? 0) + 1);
    }
    expect([...perRep.values()]).toEqual([6, 6, 6, 6]);
    const { state } = await env.storage.loadRoutingState(TENANT);
    expect(state.pools['na']?.turn).toBe(24);
    expect(env.decisions).toHaveLength(24);
    await env.close();
  });

  for (const [engine, suite] of ENGINES) {
    suite(`on ${engine}`, () => {
      it("one process's lanes decide a tenant's batches in turn: none decides on a rotation another is about to move", async () => {
        const env = await setup(sandbox(), { engine });
        let reads = 0;
        let conflicts = 0;
        let bothRead!: () => void;
        const second = new Promise<void>((resolve) => (bothRead = resolve));
        /** The real storage; the first rotation read waits (up to 300 ms) for a second lane to read too. */
        class SecondReadWaits extends Storage {
          override async loadRoutingState(tenantId: string) {
            const versioned = await super.loadRoutingState(tenantId);
            reads += 1;
            if (reads === 1) await Promise.race([second, new Promise((r) => setTimeout(r, 300))]);
            if (reads === 2) bothRead();
            return versioned;
          }
          override async commitDecisions(...args: Parameters<Storage['commitDecisions']>) {
            const results = await super.commitDecisions(...args);
            conflicts += results.filter((r) => r.status === 'conflict').length;
            return results;
          }
        }
        const contacts = env.demo.createContacts(10, 'import');
        await env.enqueueCreated(contacts);
        const worker = env.worker('lanes', {
          storage: new SecondReadWaits(env.storage.db),
          batchSize: 5,
          concurrency: 2,
        });
        worker.start();
        for (let i = 0; i < 500 && (await env.storage.inboxStats(TENANT)).done < 10; i++)
          await new Promise((r) => setTimeout(r, 20));
        await worker.stop();

        // Side by side, the second lane read the rotation before the first committed, and its whole
        // batch was answered `conflict` and decided again.
        expect(conflicts).toBe(0);
        expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 10, failed: 0 });
        for (const c of contacts) expect(env.writes('owner.set', c.id)).toHaveLength(1);
        expect((await env.storage.loadRoutingState(TENANT)).state.pools['na']?.turn).toBe(10);
        await env.close();
      });
    });
  }

  it('a batch whose rotation moved before its commit is decided again on a fresh read', async () => {
    const env = await setup(sandbox());
    let rivals = 0;
    /** The real storage, with another worker taking the pool's next turn just before our first commits. */
    class RivalTakesTurns extends Storage {
      override async commitDecisions(...args: Parameters<Storage['commitDecisions']>) {
        const [tenantId, , , now] = args;
        if (rivals < 2) {
          const { state, versions } = await this.loadRoutingState(tenantId);
          const na = state.pools['na'] ?? { turn: 0, lastTurn: {} };
          const moved = { pools: { na: { ...na, turn: na.turn + 1 } }, reps: {} };
          expect(await this.saveRoutingState(tenantId, moved, versions, now)).toBe(true);
          rivals += 1;
        }
        return super.commitDecisions(...args);
      }
    }
    const contacts = env.demo.createContacts(12, 'import');
    await env.enqueueCreated(contacts);
    await env.drain(env.worker('w1', { storage: new RivalTakesTurns(env.storage.db) }));

    expect(rivals).toBe(2);
    expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 12, failed: 0 });
    for (const c of contacts) expect(env.writes('owner.set', c.id)).toHaveLength(1);
    expect(env.decisions).toHaveLength(12);
    // Our 12 turns came after the rival's 2: none was handed out twice.
    expect((await env.storage.loadRoutingState(TENANT)).state.pools['na']?.turn).toBe(14);
    await env.close();
  });

  it.each([
    ['429 on the owner batch update', '429' as const, '/crm/v3/objects/contacts/batch/update'],
    ['500 on the task batch create', '500' as const, '/crm/v3/objects/tasks/batch/create'],
    ['500 on the contact batch read', '500' as const, '/crm/v3/objects/contacts/batch/read'],
  ])('a %s is retried later and still ends in exactly one write', async (_name, kind, path) => {
    const env = await setup(sandbox());
    const contacts = env.demo.createContacts(5, 'import');
    await env.enqueueCreated(contacts);
    sandbox().crm.faults.failNext(kind, 1, path);
    const worker = env.worker();
    expect(await worker.runOnce()).toBe(5);
    const stats = await env.storage.inboxStats(TENANT);
    expect(stats).toMatchObject({ pending: 5, done: 0 });
    const [item] = await env.storage.claim({
      workerId: 'peek',
      limit: 1,
      leaseMs: 1,
      now: T0 + 3_600_000,
    });
    expect(item?.lastError).toMatch(/contact \d+.*HubSpot answered (rate_limited|transient)/);
    if (kind === '429') {
      // One call, no retry in process: the stored backoff waits out the window (100 ms in these tests).
      const calls = sandbox().crm.calls.forPortal(env.portalId);
      expect([calls.injected['429'], calls.accepted['owner.batch'] ?? 0]).toEqual([1, 0]);
      expect(item?.runAfter).toBe(T0 + 100);
    }
    await env.storage.reapExpired(T0 + 3_600_000 + 1);

    env.clock.now = T0 + 3_600_000 + 2;
    await env.drain(worker);
    expect(await env.storage.inboxStats(TENANT)).toMatchObject({ pending: 0, done: 5, failed: 0 });
    for (const c of contacts) {
      expect(env.writes('owner.set', c.id)).toHaveLength(1);
      expect(env.tasksFor(c.id)).toHaveLength(1);
      expect(env.writes('enrollment.created', c.id)).toHaveLength(1);
    }
    await env.close();
  });

  it('an owner without a Sales seat as sender → a readable dead letter; the other leads are routed', async () => {
    const env = await setup(sandbox());
    const seatless = env.demo.portal.createObject(
      'contacts',
      { email: 'no.seat@bluelabs.example', jobtitle: 'Seatless', firstname: 'No' },
      'import',
    );
    const others = env.demo.createContacts(4, 'import');
    await env.enqueueCreated([others[0]!, seatless, ...others.slice(1)]);
    await env.drain(env.worker());

    const dead = await env.storage.deadLetters(TENANT);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.event.objectId).toBe(seatless.id);
    expect(dead[0]!.lastError).toContain(
      `enroll contact ${seatless.id} in sequence 'Enterprise demo follow-up': HubSpot refused:`,
    );
    expect(dead[0]!.lastError).toMatch(/Sales Hub/);
    // Owner and task of the seatless lead were written; only the enrollment failed.
    expect(env.writes('owner.set', seatless.id)).toHaveLength(1);
    expect(env.writes('enrollment.created', seatless.id)).toHaveLength(0);
    for (const c of others) {
      expect(env.writes('owner.set', c.id)).toHaveLength(1);
      expect(env.tasksFor(c.id)).toHaveLength(1);
    }
    expect(await env.storage.inboxStats(TENANT)).toMatchObject({ done: 4, failed: 1 });
    await env.close();
  });

  it('a record converted from a lead is not routed on its creation; a bulk job still routes it', async () => {
    const env = await setup(sandbox());
    const [converted, other] = env.demo.createContacts(2, 'import');
    // The CRM says the first was converted from a lead (Salesforce's connector reads ConvertedContactId).
    const marking = new Proxy(env.connector, {
      get(target, key) {
        if (key === 'readLeads')
          return async (...args: Parameters<typeof target.readLeads>) => {
            const leads = await target.readLeads(...args);
            const lead = leads.get(converted!.id);
            if (lead !== undefined) leads.set(converted!.id, { ...lead, convertedFrom: 'lead-7' });
            return leads;
          };
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { logger: captured, records } = capturingLogger();
    const worker = env.worker('w1', { registry: env.registryWith(marking), logger: captured });
    await env.enqueueCreated([converted!, other!]);
    await env.drain(worker);
    expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 2, failed: 0 });
    expect(env.writes('owner.set', converted!.id)).toEqual([]);
    expect(env.tasksFor(converted!.id)).toEqual([]);
    expect(await env.storage.findDecision(TENANT, `${converted!.id}:route`)).toBeNull();
    expect(env.writes('owner.set', other!.id)).toHaveLength(1);
    expect(records().filter((r) => String(r['message']).startsWith('not routed: converted'))).toEqual([
      expect.objectContaining({
        message: 'not routed: converted from lead lead-7, which was routed as a lead',
        tenantId: TENANT,
        leadId: converted!.id,
        convertedFrom: 'lead-7',
      }),
    ]);

    // An admin's backfill asks for it: routed.
    await env.storage.enqueue([{ tenantId: TENANT, event: bulkEvent('job-1', converted!.id, T0) }], T0);
    await env.drain(worker);
    expect(env.writes('owner.set', converted!.id)).toHaveLength(1);
    expect(await env.storage.inboxStats(TENANT)).toMatchObject({ pending: 0, failed: 0 });
    await env.close();
  });

  it('a contact the CRM no longer has is dead-lettered by name', async () => {
    const env = await setup(sandbox());
    await env.storage.enqueue([{ tenantId: TENANT, event: created('999999', 'gone') }], T0);
    await env.drain(env.worker());
    const [dead] = await env.storage.deadLetters(TENANT);
    expect(dead?.lastError).toContain('contact 999999 not found in HubSpot');
  });

  describe('holds', () => {
    async function heldLead(env: Env) {
      const lead = env.demo.portal.createObject(
        'contacts',
        { email: 'enrich.me@nova.example', jobtitle: 'Enrich me' },
        'import',
      );
      await env.enqueueCreated([lead]);
      await env.drain(env.worker());
      const hold = await env.storage.activeHold(TENANT, lead.id);
      expect(hold).toMatchObject({ fields: ['industry'], until: T0 + 3_600_000 });
      expect(env.writes('owner.set', lead.id)).toHaveLength(0);
      return lead;
    }

    it('is released by a change of a held field, not by other changes', async () => {
      const env = await setup(sandbox());
      const lead = await heldLead(env);
      await env.storage.enqueue([{ tenantId: TENANT, event: changed(lead.id, 'e1', 'city', 'Berlin') }], T0);
      await env.drain(env.worker());
      expect(env.writes('owner.set', lead.id)).toHaveLength(0);
      expect(await env.storage.activeHold(TENANT, lead.id)).not.toBeNull();

      env.demo.portal.updateObject('contacts', lead.id, { industry: 'RETAIL' }, 'import');
      env.clock.now = T0 + 60_000;
      await env.storage.enqueue(
        [
          { tenantId: TENANT, event: changed(lead.id, 'e2', 'industry', 'RETAIL') },
          { tenantId: TENANT, event: changed(lead.id, 'e3', 'industry', 'RETAIL') },
        ],
        env.clock.now,
      );
      await env.drain(env.worker());
      expect(env.writes('owner.set', lead.id)).toHaveLength(1);
      expect(env.tasksFor(lead.id)).toHaveLength(1);
      expect(await env.storage.activeHold(TENANT, lead.id)).toBeNull();
      const released = env.decisions.at(-1)!.decision;
      // With industry present the hold route no longer applies: the next route decides.
      expect(released.route?.name).toBe('Everyone else');
      expect(released.trace.routes.find((r) => r.name === 'Needs enrichment')?.note).toMatch(
        /hold not needed/,
      );
      expect(released.destination.kind).toBe('rep');
      await env.close();
    });

    it('times out to the route’s then destination when the clock passes the hold', async () => {
      const env = await setup(sandbox());
      const lead = await heldLead(env);
      const worker = env.worker();
      expect(await worker.processHolds(T0 + 59 * 60_000)).toBe(0);

      env.clock.now = T0 + 3_600_000;
      expect(await worker.processHolds(env.clock.now)).toBe(1);
      expect(await worker.processHolds(env.clock.now)).toBe(0);
      await env.drain(worker);
      expect(env.writes('owner.set', lead.id)).toHaveLength(1);
      const timedOut = env.decisions.at(-1)!.decision;
      expect(timedOut.trace.steps.join(' ')).toMatch(/hold timed out/);
      expect(NA).toContain(timedOut.destination.kind === 'rep' ? timedOut.destination.email : '');

      // A late property change after the timeout finds no hold: nothing more is written.
      await env.storage.enqueue(
        [{ tenantId: TENANT, event: changed(lead.id, 'late', 'industry', 'RETAIL') }],
        env.clock.now,
      );
      await env.drain(worker);
      expect(env.writes('owner.set', lead.id)).toHaveLength(1);
      const events = await env.storage.recentDecisions(TENANT);
      expect(events.filter((d) => d.leadId === lead.id).map((d) => d.decisionKey)).toEqual([
        expect.stringMatching(new RegExp(`^${lead.id}:route:hold:\\d+$`)),
        `${lead.id}:route`,
      ]);
      expect(HOLD_TIMEOUT_SUBSCRIPTION).toBe('lead-router.hold-timeout');
      await env.close();
    });
  });

  it('start/stop: the loop processes enqueued work after wake() and stops cleanly', async () => {
    const env = await setup(sandbox());
    const contacts = env.demo.createContacts(3, 'import');
    const worker = env.worker();
    worker.start();
    await env.enqueueCreated(contacts);
    worker.wake();
    for (let i = 0; i < 200 && (await env.storage.inboxStats(TENANT)).done < 3; i++)
      await new Promise((r) => setTimeout(r, 20));
    await worker.stop();
    expect(await env.storage.inboxStats(TENANT)).toMatchObject({ done: 3 });
    for (const c of contacts) expect(env.writes('owner.set', c.id)).toHaveLength(1);
    await env.close();
  });
});
