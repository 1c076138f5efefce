// Bulk ownership work through the normal worker path, over the real HubSpot connector and the sandbox
// CRM (whose write log is the judge): a backfill routes existing records once, keeps owners that fit,
// never holds up a live lead, and a rep deactivated in the CRM has their leads moved.
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { CrmObject } from '../../connectors/sandbox/index.js';
import { main } from '../../src/cli/main.js';
import { BulkRunner, startReassign } from '../../src/pipeline/bulk/runner.js';
import type { Worker } from '../../src/pipeline/worker.js';
import { BulkJobRepository, type BulkProgress } from '../../src/storage/index.js';
import { ENGINES, logger, NA, RULES, setup, TENANT, useSandbox, type Env } from './support.js';

const sandbox = useSandbox();

/** RULES without the pool's sequence: one enrollment call per lead would make each test wait on the rate budget. */
const BULK_RULES = RULES.replace('    sequence: Inbound nurture\n', '');
/** BULK_RULES with a first route that gives a lead at an account with an active owner to that owner. */
const ACCOUNT_RULES = BULK_RULES.replace(
  'routes:\n',
  `routes:
  - name: Account owner
    when: { account: matched, account_owner: active }
    assign: { account_owner: { fallback: { pool: na } } }
    task: { subject: 'Account lead {{email}}', due: 1h, priority: medium }
`,
);
/** BULK_RULES with the team opted in to automatic reassignment. */
const OPTED_IN = BULK_RULES.replace('team:\n  reps:', 'team:\n  reassign_deactivated: true\n  reps:');

interface Bulk {
  jobs: BulkJobRepository;
  worker: Worker;
}

function bulkOf(env: Env, pagesPerStep?: number, id = 'w1', accountCacheTtlMs?: number): Bulk {
  const jobs = new BulkJobRepository(env.storage.db);
  const runner = new BulkRunner({
    storage: env.storage,
    jobs,
    registry: env.registry,
    logger,
    holder: id,
    idleMs: 0,
    pagesPerStep,
  });
  return {
    jobs,
    worker: env.worker(id, {
      bulk: runner,
      batchSize: 100,
      ...(accountCacheTtlMs === undefined ? {} : { accountCacheTtlMs }),
    }),
  };
}

/** Housekeeping (which lists) and batches until the job is done. */
async function settle(env: Env, bulk: Bulk, jobId: string): Promise<BulkProgress> {
  for (let i = 0; i < 1_000; i++) {
    await bulk.worker.housekeep(env.clock.now);
    await bulk.worker.runOnce();
    const progress = await bulk.jobs.progress(jobId);
    if (progress?.job.state === 'done' || progress?.job.state === 'failed') return progress;
  }
  throw new Error(`job ${jobId} did not finish`);
}

function contacts(env: Env, n: number, props: Record<string, string> = {}): CrmObject[] {
  return Array.from({ length: n }, (_, i) =>
    env.demo.portal.createObject(
      'contacts',
      {
        email: `old${i}-${Math.random().toString(36).slice(2, 8)}@bulk.example`,
        jobtitle: 'Buyer',
        ...props,
      },
      'import',
    ),
  );
}

/** A company at `domain` owned by `owner` (a rep's email). */
function company(env: Env, domain: string, owner: string): CrmObject {
  return env.demo.portal.createObject(
    'companies',
    { name: domain, domain, hubspot_owner_id: ownerId(env, owner) },
    'import',
  );
}

/** Company searches the portal answered. */
const companySearches = (env: Env): number =>
  sandbox().crm.calls.forPortal(env.portalId).accepted['company.search'] ?? 0;

/** The rep each contact's one owner write gave it. */
function ownersOf(env: Env, list: readonly CrmObject[]): string[] {
  const emails = new Map([...env.demo.portal.owners.values()].map((o) => [o.id, o.email]));
  return list.map((c) => {
    const writes = env.writes('owner.set', c.id);
    if (writes.length !== 1) throw new Error(`contact ${c.id} has ${writes.length} owner writes`);
    return emails.get(String(writes[0]!.details['to'])) ?? '?';
  });
}

/** A backfill job of every record. */
async function backfill(bulk: Bulk, env: Env): Promise<string> {
  const { job } = await bulk.jobs.start(
    { tenantId: TENANT, kind: 'backfill', key: 'backfill', params: {}, dryRun: false, startedBy: 'test' },
    env.clock.now,
  );
  return job.id;
}

function ownerId(env: Env, email: string): string {
  const owner = env.demo.portal.ownerByEmail(email);
  if (owner === undefined) throw new Error(`no owner ${email}`);
  return owner.id;
}

describe.each(ENGINES)('bulk ownership work on %s', (engine, describeEngine) => {
  describeEngine(engine, () => {
    it('a backfill routes every existing record once; run again, it writes nothing', async () => {
      const env = await setup(sandbox(), { engine, rules: BULK_RULES });
      const bulk = bulkOf(env);
      const old = contacts(env, 450);
      const { job } = await bulk.jobs.start(
        { tenantId: TENANT, kind: 'backfill', key: 'backfill', params: {}, dryRun: false, startedBy: 'test' },
        env.clock.now,
      );
      const done = await settle(env, bulk, job.id);
      expect(done).toMatchObject({ routed: 450, failed: 0, waiting: 0, job: { listed: 450, state: 'done' } });
      for (const c of old) {
        expect(env.writes('owner.set', c.id)).toHaveLength(1);
        expect(env.tasksFor(c.id)).toHaveLength(1);
      }
      // Old records are not speed-to-lead figures, and the pool's rotation was spread over them.
      const owners = new Set(old.map((c) => env.writes('owner.set', c.id)[0]!.details['to']));
      expect(owners.size).toBe(NA.length);

      // A second backfill finds every owner fitting the rules: nothing is written, no turn is taken.
      const writes = sandbox().crm.writes.list({ portalId: env.portalId, source: 'api' }).length;
      const again = await bulk.jobs.start(
        { tenantId: TENANT, kind: 'backfill', key: 'backfill', params: {}, dryRun: false, startedBy: 'test' },
        env.clock.now,
      );
      expect(again.created).toBe(true);
      expect(await settle(env, bulk, again.job.id)).toMatchObject({ routed: 450, failed: 0 });
      expect(sandbox().crm.writes.list({ portalId: env.portalId, source: 'api' })).toHaveLength(writes);
      await env.close();
    });

    it('the lister goes on at its next pass, not once its own lease has run out', async () => {
      const env = await setup(sandbox(), { engine, rules: BULK_RULES });
      // One page per pass: three passes list the 450 records while the clock stands still.
      const bulk = bulkOf(env, 1);
      contacts(env, 450);
      const { job } = await bulk.jobs.start(
        { tenantId: TENANT, kind: 'backfill', key: 'backfill', params: {}, dryRun: false, startedBy: 'test' },
        env.clock.now,
      );
      await bulk.worker.housekeep(env.clock.now);
      // Another process may not take the job over while the lease is held.
      expect(await bulk.jobs.claimListing('w2', 60_000, env.clock.now)).toBeNull();
      await bulk.worker.housekeep(env.clock.now);
      await bulk.worker.housekeep(env.clock.now);
      expect(await bulk.jobs.progress(job.id)).toMatchObject({ job: { listed: 450, state: 'routing' } });
      expect(await settle(env, bulk, job.id)).toMatchObject({ routed: 450, failed: 0 });
      await env.close();
    });

    it('a live lead is routed in the first batch while a backfill waits in the inbox', async () => {
      const env = await setup(sandbox(), { engine, rules: BULK_RULES });
      const bulk = bulkOf(env);
      contacts(env, 400);
      const { job } = await bulk.jobs.start(
        { tenantId: TENANT, kind: 'backfill', key: 'backfill', params: {}, dryRun: false, startedBy: 'test' },
        env.clock.now,
      );
      await bulk.worker.housekeep(env.clock.now);
      expect((await bulk.jobs.progress(job.id))?.waiting).toBe(400);
      env.clock.now += 1_000;
      const [live] = contacts(env, 1, { jobtitle: 'Fresh' });
      await env.enqueueCreated([live!]);
      await bulk.worker.runOnce();
      expect(env.writes('owner.set', live!.id)).toHaveLength(1);
      expect(env.decisions[0]?.lead.id).toBe(live!.id);
      expect((await settle(env, bulk, job.id)).routed).toBe(400);
      await env.close();
    });

    it('a backfill looks each domain up once across its batches, a domain without an account too', async () => {
      const env = await setup(sandbox(), { engine, rules: ACCOUNT_RULES });
      const bulk = bulkOf(env);
      company(env, 'one.example', 'nina@acme.io');
      company(env, 'two.example', 'omar@acme.io');
      // Every batch of 100 meets all three domains; nobody.example has no company.
      const domains = ['one.example', 'two.example', 'nobody.example'];
      const old = Array.from({ length: 300 }, (_, i) =>
        env.demo.portal.createObject(
          'contacts',
          { email: `old${i}@${domains[i % 3]}`, jobtitle: 'Buyer' },
          'import',
        ),
      );
      const jobId = await backfill(bulk, env);
      expect(await settle(env, bulk, jobId)).toMatchObject({ routed: 300, failed: 0 });
      // Three batches, one search: the first batch's answers (an empty one included) served the others.
      expect(companySearches(env)).toBe(1);
      const owners = ownersOf(env, old);
      expect(owners.filter((_, i) => i % 3 === 0)).toEqual(Array(100).fill('nina@acme.io'));
      expect(owners.filter((_, i) => i % 3 === 1)).toEqual(Array(100).fill('omar@acme.io'));
      // The domain without an account goes to the pool, in turn.
      const pooled = owners.filter((_, i) => i % 3 === 2);
      expect(new Set(pooled)).toEqual(new Set(NA));
      await env.close();
    });

    it('with the account cache off (TTL 0), each batch searches its domains again and routes the same', async () => {
      const env = await setup(sandbox(), { engine, rules: ACCOUNT_RULES });
      const bulk = bulkOf(env, undefined, 'w1', 0);
      company(env, 'one.example', 'nina@acme.io');
      const old = contacts(env, 300, {}).map((c, i) =>
        i % 2 === 0
          ? env.demo.portal.updateObject('contacts', c.id, { email: `old${i}@one.example` }, 'import')
          : c,
      );
      const jobId = await backfill(bulk, env);
      expect(await settle(env, bulk, jobId)).toMatchObject({ routed: 300, failed: 0 });
      expect(companySearches(env)).toBe(3);
      expect(ownersOf(env, old).filter((_, i) => i % 2 === 0)).toEqual(Array(150).fill('nina@acme.io'));
      await env.close();
    });

    it('a bulk job routes on an account owner up to the TTL old, then looks again; a live lead looks afresh', async () => {
      const env = await setup(sandbox(), { engine, rules: ACCOUNT_RULES });
      const bulk = bulkOf(env, undefined, 'w1', 5 * 60_000);
      const acme = company(env, 'moved.example', 'nina@acme.io');
      const handTo = (rep: string): void =>
        void env.demo.portal.updateObject(
          'companies',
          acme.id,
          { hubspot_owner_id: ownerId(env, rep) },
          'admin',
        );
      const old = contacts(env, 300, {}).map((c, i) =>
        env.demo.portal.updateObject('contacts', c.id, { email: `old${i}@moved.example` }, 'import'),
      );
      await backfill(bulk, env);
      await bulk.worker.housekeep(env.clock.now);
      await bulk.worker.runOnce();
      expect(companySearches(env)).toBe(1);
      // A person hands the account to Omar: the job's next batch, within the TTL of its first lookup,
      // still routes on Nina (the documented staleness)…
      handTo('omar@acme.io');
      env.clock.now += 60_000;
      await bulk.worker.runOnce();
      expect(companySearches(env)).toBe(1);
      // …and past the TTL looks the domain up again and follows the account to Omar.
      env.clock.now += 5 * 60_000;
      await bulk.worker.runOnce();
      expect(companySearches(env)).toBe(2);
      const owners = ownersOf(env, old);
      const routedIn = (k: number): string[] => [...new Set(owners.slice(k * 100, (k + 1) * 100))];
      expect([routedIn(0), routedIn(1), routedIn(2)]).toEqual([
        ['nina@acme.io'],
        ['nina@acme.io'],
        ['omar@acme.io'],
      ]);

      // The job's answer (Omar) is fresh, but a live lead is routed on the CRM's answer of the moment.
      handTo('nina@acme.io');
      const [live] = contacts(env, 1, { email: 'new@moved.example' });
      await env.enqueueCreated([live!]);
      await bulk.worker.runOnce();
      expect(companySearches(env)).toBe(3);
      expect(ownersOf(env, [live!])).toEqual(['nina@acme.io']);
      await env.close();
    });

    it('keeps an owner that fits, moves one that does not, and --unowned leaves owned records alone', async () => {
      const env = await setup(sandbox(), { engine, rules: BULK_RULES });
      const bulk = bulkOf(env);
      const [fits] = contacts(env, 1, {
        jobtitle: 'Seatless',
        hubspot_owner_id: ownerId(env, 'dev@acme.io'),
      });
      const [moves] = contacts(env, 1, {
        jobtitle: 'Seatless',
        hubspot_owner_id: ownerId(env, 'nina@acme.io'),
      });
      const [unowned] = contacts(env, 1);
      const unownedOnly = await bulk.jobs.start(
        {
          tenantId: TENANT,
          kind: 'backfill',
          key: 'backfill:unowned',
          params: { unowned: true },
          dryRun: false,
          startedBy: 'test',
        },
        env.clock.now,
      );
      expect(await settle(env, bulk, unownedOnly.job.id)).toMatchObject({ routed: 1, job: { listed: 1 } });
      expect(env.writes('owner.set', unowned!.id)).toHaveLength(1);

      const all = await bulk.jobs.start(
        { tenantId: TENANT, kind: 'backfill', key: 'backfill', params: {}, dryRun: false, startedBy: 'test' },
        env.clock.now,
      );
      await settle(env, bulk, all.job.id);
      expect(env.writes('owner.set', fits!.id)).toEqual([]);
      expect(env.tasksFor(fits!.id)).toEqual([]);
      expect(env.writes('owner.set', moves!.id).map((w) => w.details['to'])).toEqual([
        ownerId(env, 'dev@acme.io'),
      ]);
      expect(env.tasksFor(moves!.id)).toHaveLength(1);
      // The unowned one was routed by the first job and fits now: still one owner write.
      expect(env.writes('owner.set', unowned!.id)).toHaveLength(1);
      await env.close();
    });

    it('a backfill --since routes only the records created from that moment on', async () => {
      const env = await setup(sandbox(), { engine, rules: BULK_RULES });
      const bulk = bulkOf(env);
      const before = contacts(env, 5);
      // The sandbox stamps createdate from the wall clock: the cut falls strictly after the last old one.
      while (Date.now() <= before[before.length - 1]!.createdAt) await new Promise((r) => setTimeout(r, 1));
      const since = Date.now();
      const after = contacts(env, 4);
      expect(after.every((c) => c.createdAt >= since)).toBe(true);
      const { job } = await bulk.jobs.start(
        {
          tenantId: TENANT,
          kind: 'backfill',
          key: `backfill:since=${since}`,
          params: { since },
          dryRun: false,
          startedBy: 'test',
        },
        env.clock.now,
      );
      expect(await settle(env, bulk, job.id)).toMatchObject({ routed: 4, job: { state: 'done', listed: 4 } });
      expect(ownersOf(env, after)).toHaveLength(4);
      // No owner written but to the newer records.
      const routed = new Set(env.writes('owner.set').map((w) => w.objectId));
      expect([...routed].sort()).toEqual(after.map((c) => c.id).sort());
      expect(before.filter((c) => env.tasksFor(c.id).length > 0)).toEqual([]);
      await env.close();
    });

    it('reassign --from a rep: their account-owned lead follows the account’s new owner', async () => {
      const env = await setup(sandbox(), { engine, rules: ACCOUNT_RULES });
      const bulk = bulkOf(env);
      const account = company(env, 'handed.example', 'nina@acme.io');
      const [held] = contacts(env, 1, {
        email: 'buyer@handed.example',
        hubspot_owner_id: ownerId(env, 'nina@acme.io'),
      });
      // Nina leaves; the account went to Paula.
      env.demo.portal.updateObject(
        'companies',
        account.id,
        { hubspot_owner_id: ownerId(env, 'paula@acme.io') },
        'admin',
      );
      const { job } = await startReassign(bulk.jobs, TENANT, 'nina@acme.io', false, 'test', env.clock.now);
      expect(await settle(env, bulk, job.id)).toMatchObject({ routed: 1, failed: 0, job: { listed: 1 } });
      expect(ownersOf(env, [held!])).toEqual(['paula@acme.io']);
      const decision = (await env.storage.recentDecisions(TENANT, 10)).find((d) => d.leadId === held!.id);
      expect(decision?.route?.name).toBe('Account owner');
      await env.close();
    });

    it('with two workers, a deactivated rep’s leads move once: one reassign job, each lead routed by one of them', async () => {
      const env = await setup(sandbox(), { engine, rules: OPTED_IN });
      const [one, two] = [bulkOf(env, 1, 'w1'), bulkOf(env, 1, 'w2')];
      const routed = contacts(env, 300);
      await env.enqueueCreated(routed);
      await env.drain(one.worker);
      const paula = ownerId(env, 'paula@acme.io');
      const paulas = routed.filter((c) => env.writes('owner.set', c.id)[0]?.details['to'] === paula);
      expect(paulas.length).toBeGreaterThan(50);

      env.demo.portal.setOwnerActive(paula, false);
      env.clock.now += 10 * 60_000;
      // Both workers refresh their directory on their next batch and notice her leaving.
      const late = contacts(env, 2);
      await env.enqueueCreated([late[0]!], 'late-1');
      await env.enqueueCreated([late[1]!], 'late-2');
      await Promise.all([one.worker.runOnce(), two.worker.runOnce()]);
      const jobs = (await one.jobs.list(TENANT)).filter((j) => !j.dryRun);
      expect(jobs).toHaveLength(1);
      // Both list and route, a page and a batch at a time, at once.
      for (let i = 0; i < 100; i++) {
        await Promise.all([one, two].map((b) => b.worker.housekeep(env.clock.now)));
        await Promise.all([one, two].map((b) => b.worker.runOnce()));
        const p = await one.jobs.progress(jobs[0]!.id);
        if (p?.job.state === 'done') break;
      }
      expect(await one.jobs.progress(jobs[0]!.id)).toMatchObject({
        routed: paulas.length,
        failed: 0,
        job: { state: 'done', listed: paulas.length },
      });
      for (const c of paulas) {
        const sets = env.writes('owner.set', c.id).map((w) => w.details['to']);
        expect(sets).toHaveLength(2);
        expect(sets[1]).not.toBe(paula);
        expect(env.tasksFor(c.id)).toHaveLength(2);
      }
      await env.close();
    });

    it('a rep deactivated in the CRM is noticed on the directory refresh and their leads move, once', async () => {
      const env = await setup(sandbox(), { engine, rules: OPTED_IN });
      const bulk = bulkOf(env);
      const routed = contacts(env, 40);
      await env.enqueueCreated(routed);
      await env.drain(bulk.worker);
      const nina = ownerId(env, 'nina@acme.io');
      const ninas = routed.filter((c) => env.writes('owner.set', c.id)[0]?.details['to'] === nina);
      expect(ninas.length).toBeGreaterThan(0);

      // Nina leaves. A dry run first: what would move, nothing written.
      env.demo.portal.setOwnerActive(nina, false);
      const writes = sandbox().crm.writes.list({ portalId: env.portalId, source: 'api' }).length;
      const preview = await startReassign(bulk.jobs, TENANT, 'nina@acme.io', true, 'test', env.clock.now);
      expect(await settle(env, bulk, preview.job.id)).toMatchObject({
        job: { state: 'done', listed: ninas.length },
      });
      const rows = await bulk.jobs.preview(preview.job.id);
      expect(rows.map((r) => r.leadId).sort()).toEqual(ninas.map((c) => c.id).sort());
      expect(rows.every((r) => r.currentOwner === 'nina@acme.io' && r.newOwner !== 'nina@acme.io')).toBe(
        true,
      );
      expect(sandbox().crm.writes.list({ portalId: env.portalId, source: 'api' })).toHaveLength(writes);

      // The next batch after the directory's TTL refreshes it and starts the reassign (opted in).
      env.clock.now += 10 * 60_000;
      await env.enqueueCreated(contacts(env, 1), 'late');
      await bulk.worker.runOnce();
      const [started] = (await bulk.jobs.list(TENANT)).filter((j) => !j.dryRun);
      expect(started).toMatchObject({ kind: 'reassign', params: { from: 'nina@acme.io' }, dryRun: false });
      expect(await settle(env, bulk, started!.id)).toMatchObject({ routed: ninas.length, failed: 0 });
      for (const c of ninas) {
        const sets = env.writes('owner.set', c.id).map((w) => w.details['to']);
        expect(sets).toHaveLength(2);
        expect(sets[1]).not.toBe(nina);
        expect(env.tasksFor(c.id)).toHaveLength(2);
      }
      // Everyone else keeps their owner and gets nothing new.
      for (const c of routed.filter((x) => !ninas.includes(x)))
        expect(env.writes('owner.set', c.id)).toHaveLength(1);

      // Noticed again (another worker's stale directory): no second job while this one is open, and
      // once done, a new reassign finds no lead left with Nina.
      const again = await startReassign(bulk.jobs, TENANT, 'nina@acme.io', false, 'test', env.clock.now);
      expect(await settle(env, bulk, again.job.id)).toMatchObject({ routed: 0, job: { listed: 0 } });
      await env.close();
    });
  });
});

describe('lead-router backfill --dry-run through the CLI entry', () => {
  /** Two records in a DATA_DIR of their own: one whose owner fits, one whose owner would change. */
  async function dryRun(args: string[], dirName: string) {
    const dataDir = join(sandbox().dir, dirName);
    mkdirSync(dataDir, { recursive: true });
    const rules = BULK_RULES.replace('- name: Seatless sender', `- name: 'Seatless, "named" sender'`);
    expect(rules).toContain('"named"');
    const env = await setup(sandbox(), { rules, file: join(dataDir, 'lead-router.sqlite') });
    const bulk = bulkOf(env);
    const [stays] = contacts(env, 1, { jobtitle: 'Seatless', hubspot_owner_id: ownerId(env, 'dev@acme.io') });
    const [moves] = contacts(env, 1, {
      jobtitle: 'Seatless',
      hubspot_owner_id: ownerId(env, 'nina@acme.io'),
    });
    expect(stays!.id).not.toBe(moves!.id);
    const saved = { DATA_DIR: process.env['DATA_DIR'], DATABASE_URL: process.env['DATABASE_URL'] };
    process.env['DATA_DIR'] = dataDir;
    delete process.env['DATABASE_URL'];
    const out: string[] = [];
    const err: string[] = [];
    const progress: string[] = [];
    try {
      const cli = main(['backfill', '--dry-run', ...args], {
        out: (l) => out.push(l),
        err: (l) => err.push(l),
        clock: () => env.clock.now,
        progress: { write: (text) => progress.push(text) },
      });
      // The CLI starts the job and follows it; the app's worker (here, in the test) routes it.
      let jobs = await bulk.jobs.list(TENANT);
      for (let i = 0; i < 500 && jobs.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
        jobs = await bulk.jobs.list(TENANT);
      }
      expect(jobs.map((j) => [j.kind, j.dryRun])).toEqual([['backfill', true]]);
      await settle(env, bulk, jobs[0]!.id);
      expect([await cli, err.filter((l) => /fail|error/i.test(l))]).toEqual([0, []]);
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    expect(env.writes('owner.set')).toEqual([]);
    expect(env.writes('task.created')).toEqual([]);
    await env.close();
    // Only the record whose owner would change, its rule's comma and quotes escaped per RFC 4180.
    const expectedCsv = `lead_id,current_owner,new_owner,destination,rule\r\n${moves!.id},nina@acme.io,dev@acme.io,rep,"Seatless, ""named"" sender"\r\n`;
    return { dataDir, out, progress, expectedCsv };
  }

  it('writes the CSV of what would change to --csv, and nothing to the CRM', async () => {
    const csv = join(sandbox().dir, 'what-would-change.csv');
    const run = await dryRun(['--csv', csv], 'cli-dry-run');
    expect(readFileSync(csv, 'utf8')).toBe(run.expectedCsv);
    expect(run.out).toEqual([
      expect.stringMatching(/: 2 records decided, 1 would change owner, 1 stay; wrote /),
    ]);
    expect(run.out[0]?.endsWith(`wrote ${csv}`)).toBe(true);
  });

  it('without --csv, writes it in DATA_DIR and names its path; progress only once there is a count', async () => {
    const run = await dryRun([], 'cli-dry-run-default');
    const [line] = run.out;
    const file = /; wrote (.+)$/.exec(line ?? '')?.[1];
    expect([dirname(file!), basename(file!)]).toEqual([
      run.dataDir,
      expect.stringMatching(/^backfill-dry-run-[0-9a-f]{8}\.csv$/),
    ]);
    expect(readFileSync(file!, 'utf8')).toBe(run.expectedCsv);
    // Never a share of nothing ("100% (0/0)") before the records are counted.
    expect(run.progress.length).toBeGreaterThan(0);
    for (const text of run.progress)
      expect(text).toMatch(/^backfill \(dry run\): \d+% \([1-9]\d*\/[1-9]\d*\)/);
  });
});
