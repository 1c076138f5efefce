// Creates the CRM cannot deduplicate (HubSpot has no idempotency key), made once all the same: a worker
// killed between the CRM accepting its creates and recording them, a create whose answer was lost,
// several worker processes flushing explanation notes at once, a sequence recreated under a cached id.
// The real HubSpotConnector against the sandbox CRM, on SQLite and PostgreSQL; the sandbox's write log
// is the judge.
import { join } from 'node:path';
import { CrmError, type CrmConnector, type ItemResult } from '../../connectors/connector.js';
import {
  created,
  ENGINES,
  RULES,
  RULES_WITH_NOTES,
  setup,
  T0,
  TENANT,
  useSandbox,
  type Env,
} from './support.js';

const sandbox = useSandbox();
const LEASE = 60_000;
const VERIFY = 5_000;

/** `real`, with some of its calls replaced (a crash, a lost answer). */
function interpose(real: CrmConnector, over: Partial<CrmConnector>): CrmConnector {
  return {
    provider: real.provider,
    profile: real.profile,
    readLeads: (ids, properties) => real.readLeads(ids, properties),
    findAccountsByDomain: (domains) => real.findAccountsByDomain(domains),
    directory: () => real.directory(),
    setOwners: (writes) => real.setOwners(writes),
    setTeams: (writes) => real.setTeams(writes),
    createTasks: (tasks) => real.createTasks(tasks),
    enroll: (enrollments) => real.enroll(enrollments),
    sequences: () => real.sequences(),
    writeNotes: (notes) => real.writeNotes(notes),
    findTasks: (leadIds) => real.findTasks(leadIds),
    findNotes: (leadIds) => real.findNotes(leadIds),
    findEnrollment: (leadId) => real.findEnrollment(leadId),
    touchedLeads: (queries, signals) => real.touchedLeads(queries, signals),
    listLeads: (query) => real.listLeads(query),
    checkConnection: () => real.checkConnection(),
    ...over,
  };
}

/** The process died while waiting for this answer: it never comes. */
const never = (): Promise<never> => new Promise(() => undefined);

/** What a timeout after sending looks like: the CRM may have applied the create. */
const lost = (): ItemResult => ({
  ok: false,
  error: new CrmError('transient', 'HubSpot request timed out (the write may have been applied)', {
    outcomeUnknown: true,
  }),
});

async function statusOf(env: Env, kind: 'create_task' | 'enroll_sequence' | 'write_note') {
  const rows = await env.storage.db.all<{ status: string; sent_at: number | null; crm_id: string | null }>(
    'SELECT status, sent_at, crm_id FROM actions WHERE tenant_id = ? AND kind = ? ORDER BY id',
    [TENANT, kind],
  );
  return rows.map((r) => ({
    status: r.status,
    sentAt: r.sent_at === null ? null : Number(r.sent_at),
    crmId: r.crm_id,
  }));
}

/**
 * Four leads enqueued; a worker whose CRM takes the first two tasks is "killed" (never returns) before it
 * records anything. Resolves once the CRM holds those two tasks.
 */
async function crashAfterTwoTasks(env: Env): Promise<ReturnType<Env['demo']['createContacts']>> {
  const contacts = env.demo.createContacts(4, 'import');
  await env.enqueueCreated(contacts);
  let died = (): void => undefined;
  const dead = new Promise<void>((resolve) => (died = resolve));
  const crashing = interpose(env.connector, {
    createTasks: async (tasks) => {
      await env.connector.createTasks(tasks.slice(0, 2));
      died();
      return never();
    },
  });
  void env.worker('doomed', { registry: env.registryWith(crashing), leaseMs: LEASE }).runOnce();
  await dead;
  return contacts;
}

for (const [engine, suite] of ENGINES) {
  suite(`on ${engine}`, () => {
    let env: Env;
    afterEach(async () => {
      await env.close();
    });

    it('a worker killed after the CRM accepted some of its tasks: the next adopts those and creates the rest', async () => {
      env = await setup(sandbox(), { engine });
      const contacts = await crashAfterTwoTasks(env);
      expect((await statusOf(env, 'create_task')).map((a) => [a.status, a.sentAt])).toEqual(
        contacts.map(() => ['planned', T0]),
      );
      expect(contacts.map((c) => env.tasksFor(c.id).length).sort()).toEqual([0, 0, 1, 1]);

      // Its lease lapses and another worker takes the leads over.
      env.clock.now = T0 + LEASE + VERIFY;
      await env.storage.reapExpired(env.clock.now);
      await env.drain(env.worker('survivor', { leaseMs: LEASE }));

      expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 4, failed: 0 });
      for (const c of contacts) {
        expect([c.id, env.tasksFor(c.id).length]).toEqual([c.id, 1]);
        expect([c.id, env.writes('owner.set', c.id).length]).toEqual([c.id, 1]);
        expect([c.id, env.writes('enrollment.created', c.id).length]).toEqual([c.id, 1]);
      }
      // Each action holds the id of the one task its lead has, adopted or created.
      const taskIds = new Set(contacts.map((c) => env.tasksFor(c.id)[0]!.objectId));
      const stored = await statusOf(env, 'create_task');
      expect(stored.every((a) => a.status === 'done')).toBe(true);
      expect(new Set(stored.map((a) => a.crmId))).toEqual(taskIds);
    });

    it('the only worker, restarted after a kill -9, takes back its predecessor’s leases at once', async () => {
      env = await setup(sandbox(), { engine });
      const contacts = await crashAfterTwoTasks(env);
      expect((await env.storage.inboxStats(TENANT)).leased).toBe(4);

      // The clock stays well inside the dead worker's lease: only a takeover can route these leads.
      env.clock.now = T0 + VERIFY;
      const restarted = env.worker('restarted', { leaseMs: LEASE, soleWorker: true, idleMs: 20 });
      restarted.start();
      try {
        for (let i = 0; i < 400 && (await env.storage.inboxStats(TENANT)).done < 4; i++)
          await new Promise((r) => setTimeout(r, 50));
      } finally {
        await restarted.stop();
      }
      expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 4, failed: 0 });
      for (const c of contacts) {
        expect([c.id, env.tasksFor(c.id).length]).toEqual([c.id, 1]);
        expect([c.id, env.writes('owner.set', c.id).length]).toEqual([c.id, 1]);
      }
    });

    it('a worker killed after the CRM enrolled a lead: the next adopts the enrollment', async () => {
      env = await setup(sandbox(), { engine });
      const contacts = env.demo.createContacts(3, 'import');
      await env.enqueueCreated(contacts);
      let died = (): void => undefined;
      const dead = new Promise<void>((resolve) => (died = resolve));
      const crashing = interpose(env.connector, {
        enroll: async (enrollments) => {
          await env.connector.enroll(enrollments);
          died();
          return never();
        },
      });
      void env.worker('doomed', { registry: env.registryWith(crashing), leaseMs: LEASE }).runOnce();
      await dead;
      expect((await statusOf(env, 'enroll_sequence')).map((a) => a.sentAt)).toEqual([T0, null, null]);

      env.clock.now = T0 + LEASE + VERIFY;
      await env.storage.reapExpired(env.clock.now);
      await env.drain(env.worker('survivor', { leaseMs: LEASE }));

      // Enrolling the first lead again would have been refused ("already enrolled") as a dead letter.
      expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 3, failed: 0 });
      for (const c of contacts) {
        expect([c.id, env.writes('enrollment.created', c.id).length]).toEqual([c.id, 1]);
        expect([c.id, env.tasksFor(c.id).length]).toEqual([c.id, 1]);
      }
      const first = env.writes('enrollment.created')[0]!;
      expect((await statusOf(env, 'enroll_sequence'))[0]).toEqual({
        status: 'done',
        sentAt: T0,
        crmId: first.details['enrollmentId'],
      });
    });

    it('tasks whose answer was lost are looked for once the search can show them, and adopted', async () => {
      env = await setup(sandbox(), { engine });
      const contacts = env.demo.createContacts(3, 'import');
      await env.enqueueCreated(contacts);
      const unanswered = interpose(env.connector, {
        createTasks: async (tasks) => {
          await env.connector.createTasks(tasks);
          return tasks.map(lost);
        },
      });
      await env.worker('w1', { registry: env.registryWith(unanswered) }).runOnce();
      expect(contacts.map((c) => env.tasksFor(c.id).length)).toEqual([1, 1, 1]);
      expect((await statusOf(env, 'create_task')).map((a) => [a.status, a.sentAt])).toEqual(
        contacts.map(() => ['planned', T0]),
      );
      // Retried no sooner than the search can see what was sent.
      const items = await env.storage.claim({
        workerId: 'peek',
        limit: 10,
        leaseMs: 1,
        now: T0 + VERIFY - 1,
      });
      expect(items).toEqual([]);

      // The batch's three are looked for together: one lookup (the connector makes it in as few calls
      // as its CRM allows), not one per lead.
      const lookups: string[][] = [];
      const counting = interpose(env.connector, {
        findTasks: (leadIds) => {
          lookups.push([...leadIds].sort());
          return env.connector.findTasks(leadIds);
        },
      });
      env.clock.now = T0 + VERIFY;
      await env.drain(env.worker('w1', { registry: env.registryWith(counting) }));
      expect(lookups).toEqual([contacts.map((c) => c.id).sort()]);
      expect(await env.storage.inboxStats(TENANT)).toMatchObject({ pending: 0, done: 3, failed: 0 });
      for (const c of contacts) expect([c.id, env.tasksFor(c.id).length]).toEqual([c.id, 1]);
      expect((await statusOf(env, 'create_task')).map((a) => a.status)).toEqual(['done', 'done', 'done']);
    });

    it('two workers flushing notes at once write each note once', async () => {
      env = await setup(sandbox(), {
        engine,
        rules: RULES_WITH_NOTES,
        file: join(sandbox().dir, `notes-${engine}-${Date.now()}.sqlite`),
      });
      const contacts = env.demo.createContacts(30, 'import');
      await env.enqueueCreated(contacts);
      await env.drain(env.worker('router'));
      expect(await env.storage.plannedActionsOfKind('write_note', 100)).toHaveLength(30);

      const a = env.worker('a');
      const b = env.worker('b', { storage: await env.openStorage() });
      const written = await Promise.all([a.flushNotes(T0, 'all'), b.flushNotes(T0, 'all')]);

      expect(written[0] + written[1]).toBe(30);
      for (const c of contacts) expect([c.id, env.notesFor(c.id).length]).toEqual([c.id, 1]);
      expect(await env.storage.plannedActionsOfKind('write_note', 100)).toEqual([]);
    });

    it('notes whose answer was lost are not written again: found after the delay and adopted', async () => {
      env = await setup(sandbox(), { engine, rules: RULES_WITH_NOTES });
      const contacts = env.demo.createContacts(3, 'import');
      await env.enqueueCreated(contacts);
      await env.drain(env.worker('router'));
      const unanswered = interpose(env.connector, {
        writeNotes: async (notes) => {
          await env.connector.writeNotes(notes);
          return notes.map(lost);
        },
      });
      expect(await env.worker('w1', { registry: env.registryWith(unanswered) }).flushNotes(T0, 'all')).toBe(
        0,
      );
      expect((await statusOf(env, 'write_note')).map((a) => [a.status, a.sentAt])).toEqual(
        contacts.map(() => ['planned', T0]),
      );
      // Too soon for the search: left alone.
      expect(await env.worker('w2').flushNotes(T0 + VERIFY - 1, 'all')).toBe(0);
      expect(await env.worker('w2').flushNotes(T0 + VERIFY, 'all')).toBe(3);
      for (const c of contacts) expect([c.id, env.notesFor(c.id).length]).toEqual([c.id, 1]);
      const noteIds = new Set(contacts.map((c) => env.notesFor(c.id)[0]!.objectId));
      expect(new Set((await statusOf(env, 'write_note')).map((a) => a.crmId))).toEqual(noteIds);
    });

    it('a stopping worker writes the notes never sent and leaves those to look for to the next flush', async () => {
      env = await setup(sandbox(), { engine, rules: RULES_WITH_NOTES });
      const unansweredLeads = env.demo.createContacts(3, 'import');
      await env.enqueueCreated(unansweredLeads);
      await env.drain(env.worker('router'));
      const unanswered = interpose(env.connector, {
        writeNotes: async (notes) => {
          await env.connector.writeNotes(notes);
          return notes.map(lost);
        },
      });
      await env.worker('w1', { registry: env.registryWith(unanswered) }).flushNotes(T0, 'all');
      const freshLeads = env.demo.createContacts(2, 'import');
      await env.enqueueCreated(freshLeads);
      await env.drain(env.worker('router'));

      const lookedFor: string[] = [];
      const counting = interpose(env.connector, {
        findNotes: (leadIds) => {
          lookedFor.push(...leadIds);
          return env.connector.findNotes(leadIds);
        },
      });
      const stopping = env.worker('w2', { registry: env.registryWith(counting) });
      // Past the lookup delay: a flush of every note would look for the unanswered three now.
      env.clock.now = T0 + VERIFY;
      await stopping.stop();
      expect(lookedFor).toEqual([]);
      for (const c of freshLeads) expect([c.id, env.notesFor(c.id).length]).toEqual([c.id, 1]);
      expect((await statusOf(env, 'write_note')).map((a) => [a.status, a.sentAt])).toEqual([
        ...unansweredLeads.map(() => ['planned', T0]),
        ...freshLeads.map(() => ['done', T0 + VERIFY]),
      ]);

      // The next flush looks for them, finds and adopts them: still one note per lead.
      expect(
        await env.worker('w3', { registry: env.registryWith(counting) }).flushNotes(T0 + VERIFY, 'all'),
      ).toBe(3);
      expect(lookedFor.sort()).toEqual(unansweredLeads.map((c) => c.id).sort());
      for (const c of [...unansweredLeads, ...freshLeads])
        expect([c.id, env.notesFor(c.id).length]).toEqual([c.id, 1]);
    });
  });
}

describe('sequences and hooks', () => {
  let env: Env;
  afterEach(async () => {
    await env.close();
  });

  it('a sequence deleted and recreated after its list was read: the enrollment finds the new one', async () => {
    env = await setup(sandbox());
    const worker = env.worker();
    const [first, second, third] = env.demo.createContacts(3, 'import');
    await env.enqueueCreated([first!]);
    await env.drain(worker);
    const portal = env.demo.portal;
    const old = portal.sequenceByName('Inbound nurture')!;
    expect(env.writes('enrollment.created', first!.id)[0]?.details['sequenceId']).toBe(old.id);

    portal.deleteSequence(old.id);
    const recreated = portal.addSequence('Inbound nurture', old.userId);
    await env.enqueueCreated([second!]);
    await env.drain(worker);
    expect(env.writes('enrollment.created', second!.id).map((w) => w.details['sequenceId'])).toEqual([
      recreated.id,
    ]);

    // Deleted for good: the lead is a dead letter that names the sequence.
    portal.deleteSequence(recreated.id);
    await env.enqueueCreated([third!]);
    await env.drain(worker);
    expect(await env.storage.inboxStats(TENANT)).toMatchObject({ done: 2, failed: 1 });
    const [dead] = await env.storage.deadLetters(TENANT);
    expect(dead?.lastError).toBe(
      `enroll contact ${third!.id} in sequence 'Inbound nurture': configuration error: no sequence named 'Inbound nurture'`,
    );
  });

  it('asks for the sequence list the rules name beside the directory, before reading leads; never when none is named', async () => {
    /** The order of the one-time reads and the first lead read, for rules `rules`. */
    const firstReads = async (rules?: string): Promise<string[]> => {
      env = await setup(sandbox(), rules === undefined ? {} : { rules });
      const real = env.connector;
      const calls: string[] = [];
      const logged = interpose(real, {
        directory: () => (calls.push('directory'), real.directory()),
        sequences: () => (calls.push('sequences'), real.sequences()),
        readLeads: (ids, properties) => (calls.push('readLeads'), real.readLeads(ids, properties)),
      });
      const worker = env.worker('w1', { registry: env.registryWith(logged) });
      await env.enqueueCreated(env.demo.createContacts(3, 'import'));
      await env.drain(worker);
      expect(await env.storage.inboxStats(TENANT)).toMatchObject({ done: 3, failed: 0 });
      await env.close();
      return calls.filter((c, i) => calls.indexOf(c) === i);
    };
    expect((await firstReads()).slice(0, 2).sort()).toEqual(['directory', 'sequences']);
    expect(await firstReads(RULES.replace(/^ {4}sequence: .*\n/gm, ''))).toEqual(['directory', 'readLeads']);
  });

  it('reports each confirmed owner write with the lead’s creation time, and each dead letter', async () => {
    env = await setup(sandbox());
    const written: [string, number][] = [];
    const dead: string[] = [];
    const worker = env.worker('w1', {
      onOwnerWritten: (tenantId, createdAt) => written.push([tenantId, createdAt]),
      onDeadLetter: (tenantId) => dead.push(tenantId),
    });
    const contacts = env.demo.createContacts(5, 'import');
    await env.enqueueCreated(contacts);
    await env.storage.enqueue([{ tenantId: TENANT, event: created('999999', 'gone') }], T0);
    await env.drain(worker);
    expect(written.sort()).toEqual(contacts.map((c): [string, number] => [TENANT, c.createdAt]).sort());
    expect(dead).toEqual([TENANT]);
    // A retry has nothing left to write, and reports nothing again.
    await env.enqueueCreated(contacts, 'again');
    await env.drain(worker);
    expect(written).toHaveLength(5);
  });
});
