// SLA timers that act, end to end over the sandbox CRM with the real connector, on SQLite and on
// PostgreSQL with two workers, each on its own database connection as two processes would be: an
// untouched lead is reminded, then re-routed to a different rep, then escalated; a touched lead and a
// lead a person re-owned are left alone; a notification receiver that is down gets the delivery later,
// once, signed per Standard Webhooks (checked with the library's own verify). The sandbox's write log
// is the judge.
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { CrmError, type CrmConnector } from '../../connectors/connector.js';
import { explainLead } from '../../src/cli/operate.js';
import { Notifier } from '../../src/notify/notifier.js';
import { TenantPausedError } from '../../src/pipeline/runtime.js';
import { NotificationRepository } from '../../src/storage/notifications.js';
import { SlaTimerRepository } from '../../src/storage/sla-timers.js';
import type { Storage } from '../../src/storage/index.js';
import type { Worker } from '../../src/pipeline/worker.js';
import { receiver, type Receiver } from './receiver.js';
import {
  ENGINES,
  logger,
  NA,
  refuseNotifications,
  setup,
  T0,
  TENANT,
  useSandbox,
  type Env,
} from './support.js';

const sandbox = useSandbox();
/** The SLA steps of the test rules' route, as `rules` writes them. */
const DEFAULT_STEPS =
  '        - { after: 5m, remind: task }\n        - { after: 15m, reroute: true }\n        - { after: 60m, escalate: { queue: desk } }';
const MIN = 60_000;
const SECRET = `whsec_${Buffer.from('lead-router sla test secret, 32 bytes!').toString('base64')}`;
process.env['SLA_TEST_SECRET'] = SECRET;

const rules = (receiver: string): string => `
name: SLA test
pools:
  na: { members: [${NA.join(', ')}], strategy: round_robin, fallback: { queue: triage } }
notifications:
  ops: { webhook: { url: '${receiver}', secret_env: SLA_TEST_SECRET }, on: [reminder, reroute, escalation] }
routes:
  - name: Inbound
    assign: { pool: na }
    task: { subject: 'New lead {{email}}', due: 1h }
    notify: [ops]
    sla:
      first_touch: 10m
      steps:
        - { after: 5m, remind: task }
        - { after: 15m, reroute: true }
        - { after: 60m, escalate: { queue: desk } }
fallback: { queue: triage }
team:
  reps:
    nina@acme.io: { timezone: America/New_York }
    omar@acme.io: { timezone: America/Chicago }
    paula@acme.io: { timezone: America/Los_Angeles }
    sam@acme.io: { timezone: America/New_York }
  queues: { triage: { team: SMB }, desk: { owner: dev@acme.io } }
`;

describe.each(ENGINES)('SLA timers that act (%s)', (engine, suite) => {
  suite('', () => {
    let hook: Receiver;
    beforeAll(async () => {
      hook = await receiver();
    });
    afterAll(() => hook.close());

    let files = 0;
    /** SQLite on a file, so that a second connection sees the same database. */
    const open = (source: string): Promise<Env> =>
      setup(sandbox(), {
        engine,
        rules: source,
        ...(engine === 'sqlite' ? { file: join(sandbox().dir, `sla-${files++}.sqlite`) } : {}),
      });

    async function start(): Promise<{
      env: Env;
      timers: SlaTimerRepository;
      notifications: NotificationRepository;
    }> {
      const env = await open(rules(hook.url));
      return {
        env,
        timers: new SlaTimerRepository(env.storage.db),
        notifications: new NotificationRepository(env.storage.db),
      };
    }

    /**
     * Two workers, each on its own storage connection with its own notifier on it: nothing but the
     * database keeps them from acting twice.
     */
    const workers = async (
      env: Env,
      options: {
        batchSize?: number;
        onStep?: (workerId: string, kind: string) => void;
        connector?: CrmConnector;
      } = {},
    ): Promise<Worker[]> => {
      const storages = [env.storage, await env.openStorage()];
      return storages.map((storage, i) => {
        const id = `w${i + 1}`;
        return env.worker(id, {
          storage,
          ...(options.connector === undefined ? {} : { registry: env.registryWith(options.connector) }),
          notifier: new Notifier({ repository: storage.notifications, logger, baseDelayMs: MIN }),
          sla: {
            recheckMs: 30_000,
            gatherMs: 0,
            ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
            onStep: (_tenantId, kind) => options.onStep?.(id, kind),
          },
        });
      });
    };
    /** The test rules, both workers, and one new contact routed (its SLA timer armed). */
    const oneRoutedLead = async () => {
      const started = await start();
      const ws = await workers(started.env);
      const [lead] = started.env.demo.createContacts(1, 'import');
      await started.env.enqueueCreated([lead!]);
      await started.env.drain(ws[0]!);
      return { ...started, ws, lead };
    };
    /** Both workers' housekeeping at once, then both draining the inbox at once. */
    const tick = async (env: Env, ws: Worker[], at: number): Promise<void> => {
      env.clock.now = at;
      await Promise.all(ws.map((w) => w.housekeep(at)));
      await Promise.all(ws.map((w) => env.drain(w)));
      await Promise.all(ws.map((w) => w.housekeep(at)));
    };
    /** The test rules with their SLA steps replaced by `steps`. */
    const withSteps = (steps: string): string => {
      const steady = rules(hook.url);
      expect(steady).toContain(DEFAULT_STEPS);
      return steady.replace(DEFAULT_STEPS, steps);
    };
    /** One step: at 20 min escalate to dev@acme.io, a rep of the team. */
    const toDevAfter20m = (): string =>
      withSteps('        - { after: 20m, escalate: { rep: dev@acme.io } }').replace(
        '  reps:\n',
        '  reps:\n    dev@acme.io: { timezone: Europe/London }\n',
      );
    const ownerId = (env: Env, email: string): string => env.demo.owners.find((o) => o.email === email)!.id;
    const reminders = (env: Env, leadId: string) =>
      env
        .tasksFor(leadId)
        .flatMap((a) => env.writes('task.created', a.objectId))
        .filter((w) => String(w.details['hs_task_subject']).startsWith('SLA reminder'));

    it('an untouched lead is reminded, then re-routed to a different rep, then escalated — each once', async () => {
      const { env, timers, notifications, ws, lead } = await oneRoutedLead();
      const first = env.writes('owner.set', lead!.id).map((w) => w.details['to']);
      expect(first).toEqual([ownerId(env, 'nina@acme.io')]);

      await tick(env, ws, T0 + 4 * MIN);
      expect(reminders(env, lead!.id)).toHaveLength(0);
      await tick(env, ws, T0 + 5 * MIN + 1000);
      const reminded = reminders(env, lead!.id);
      expect(reminded).toHaveLength(1);
      expect(reminded[0]!.details['hubspot_owner_id']).toBe(ownerId(env, 'nina@acme.io'));

      // 15 minutes: the deadline (10) is recorded as a breach, and the lead goes to the next rep.
      await tick(env, ws, T0 + 15 * MIN + 1000);
      await tick(env, ws, T0 + 16 * MIN);
      const owners = () => env.writes('owner.set', lead!.id).map((w) => w.details['to']);
      expect(owners()).toEqual([ownerId(env, 'nina@acme.io'), ownerId(env, 'omar@acme.io')]);
      const rerouted = await env.storage.findDecision(TENANT, `${lead!.id}:route:sla:1:2`);
      expect(rerouted?.trace.steps[0]).toMatch(/SLA re-route: .* never back to nina@acme\.io/);
      expect(rerouted?.trace.assignments[0]?.candidates).toContainEqual(
        expect.objectContaining({ email: 'nina@acme.io', skipped: 'already_had' }),
      );

      // 60 minutes: escalated to the desk queue's owner; nothing more after that.
      await tick(env, ws, T0 + 59 * MIN);
      expect(owners()).toHaveLength(2);
      await tick(env, ws, T0 + 60 * MIN + 1000);
      await tick(env, ws, T0 + 3 * 60 * MIN);
      expect(owners()).toEqual([
        ownerId(env, 'nina@acme.io'),
        ownerId(env, 'omar@acme.io'),
        ownerId(env, 'dev@acme.io'),
      ]);
      expect(reminders(env, lead!.id)).toHaveLength(1);

      const steps = await timers.stepsFor(TENANT, lead!.id);
      expect(steps.map((s) => [s.kind, s.status, s.owner])).toEqual([
        ['remind', 'done', 'nina@acme.io'],
        ['breach', 'done', 'nina@acme.io'],
        ['reroute', 'done', 'nina@acme.io'],
        ['escalate', 'done', 'omar@acme.io'],
      ]);
      const tenant = (await env.storage.getTenant(TENANT))!;
      const explained = (await explainLead(env.storage, tenant, lead!.id, { reps: {}, queues: {} })).join(
        '\n',
      );
      expect(explained).toMatch(
        /SLA steps:\n.* remind \(owner nina@acme\.io\): not touched: after 5m remind/,
      );
      expect(explained).toMatch(
        /escalate \(owner omar@acme\.io\): not touched: after 1h escalate to queue desk/,
      );
      expect(explained).toMatch(/SLA step: after 15m re-route to the next eligible rep/);
      const [timer] = await env.storage.slaTimersFor(TENANT, lead!.id);
      expect(timer?.state).toBe('breached');
      const row = await env.storage.db.get<{ started_at: number; breached_at: number; outcome: string }>(
        'SELECT started_at, breached_at, outcome FROM sla_timers WHERE id = ?',
        [timer!.id],
      );
      expect(row).toEqual({ started_at: T0, breached_at: T0 + 15 * MIN + 1000, outcome: 'unmet' });
      // Notifications: reminder, re-route, escalation — each delivered once.
      const sent = (await notifications.deliveries(TENANT)).filter((d) => d.leadId === lead!.id);
      expect(sent.map((d) => [d.event, d.state])).toEqual([
        ['lead.reminder', 'delivered'],
        ['lead.reroute', 'delivered'],
        ['lead.escalation', 'delivered'],
      ]);
      await env.close();
    });

    it('two workers on their own connections, firing at once in small claims: each step of each lead taken once', async () => {
      const { env, timers } = await start();
      const taken: string[] = [];
      // One timer per claim: the workers take turns at the same tenant's timers, step after step.
      const ws = await workers(env, { batchSize: 1, onStep: (id) => taken.push(id) });
      const leads = env.demo.createContacts(6, 'import');
      await env.enqueueCreated(leads);
      await Promise.all(ws.map((w) => env.drain(w)));
      for (const at of [5 * MIN + 1000, 15 * MIN + 1000, 16 * MIN, 60 * MIN + 1000, 3 * 60 * MIN])
        await tick(env, ws, T0 + at);

      const dev = ownerId(env, 'dev@acme.io');
      for (const lead of leads) {
        const owners = env.writes('owner.set', lead.id).map((w) => String(w.details['to']));
        // Routed, re-routed to someone else, escalated to the desk's owner: one write each.
        expect([lead.id, owners.length, new Set(owners).size, owners[2]]).toEqual([lead.id, 3, 3, dev]);
        expect([lead.id, reminders(env, lead.id).length]).toEqual([lead.id, 1]);
        expect((await timers.stepsFor(TENANT, lead.id)).map((s) => [s.kind, s.status])).toEqual([
          ['remind', 'done'],
          ['breach', 'done'],
          ['reroute', 'done'],
          ['escalate', 'done'],
        ]);
      }
      // Four steps per lead, taken once between them, and both workers took part.
      expect(taken).toHaveLength(leads.length * 4);
      expect(new Set(taken)).toEqual(new Set(['w1', 'w2']));
      await env.close();
    });

    it('a reminder whose answer was lost is found by the other worker, not sent again', async () => {
      const { env, timers } = await start();
      const [w1, w2] = await workers(env);
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(w1!);
      // HubSpot makes the reminder task; w1 never hears back (the connection drops after the write).
      sandbox().crm.faults.failNext('lost', 1, '/crm/v3/objects/tasks/batch/create');
      env.clock.now = T0 + 5 * MIN + 1000;
      await w1!.housekeep(env.clock.now);
      expect(reminders(env, lead!.id)).toHaveLength(1);
      expect((await timers.stepsFor(TENANT, lead!.id)).map((s) => [s.kind, s.status])).toEqual([
        ['remind', 'sent'],
      ]);
      // w1 is gone; w2, on its own connection, takes the timer when it falls due again.
      const [timer] = await env.storage.slaTimersFor(TENANT, lead!.id);
      env.clock.now = timer!.dueAt;
      await w2!.housekeep(env.clock.now);
      const made = reminders(env, lead!.id);
      expect(made).toHaveLength(1);
      expect((await timers.stepsFor(TENANT, lead!.id)).map((s) => [s.kind, s.status, s.crmId])).toEqual([
        ['remind', 'done', made[0]!.objectId],
      ]);
      // The chain goes on from there: the re-route still comes, once.
      await tick(env, [w1!, w2!], T0 + 15 * MIN + 1000);
      await tick(env, [w1!, w2!], T0 + 16 * MIN);
      expect(env.writes('owner.set', lead!.id)).toHaveLength(2);
      expect(reminders(env, lead!.id)).toHaveLength(1);
      // The reminder taken twice is told once, with its step's end.
      expect(
        (await new NotificationRepository(env.storage.db).deliveries(TENANT)).map((d) => [d.event, d.state]),
      ).toEqual([
        ['lead.reminder', 'delivered'],
        ['lead.reroute', 'delivered'],
      ]);
      await env.close();
    });

    it('a check that outlasts its lease keeps its timers: the lease is renewed while the batch runs, no other worker takes them', async () => {
      const { env, ws, lead } = await oneRoutedLead();
      // w3's CRM check hangs until released (a busy rate budget), under a 300 ms lease.
      let release: () => void = () => undefined;
      const released = new Promise<void>((r) => (release = r));
      const slow: CrmConnector = Object.assign(Object.create(env.connector) as CrmConnector, {
        touchedLeads: async (...args: Parameters<CrmConnector['touchedLeads']>) => {
          await released;
          return env.connector.touchedLeads(...args);
        },
      });
      const w3 = env.worker('w3', {
        registry: env.registryWith(slow),
        sla: { leaseMs: 300, gatherMs: 0, recheckMs: 30_000 },
      });
      const leaseOf = () =>
        env.storage.db.get<{ lease_owner: string | null; lease_until: number | null }>(
          'SELECT lease_owner, lease_until FROM sla_timers WHERE lead_id = ?',
          [lead!.id],
        );
      const waitFor = async (what: string, check: () => Promise<boolean>) => {
        const deadline = Date.now() + 15_000;
        while (!(await check())) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      env.clock.now = T0 + 5 * MIN + 1000;
      const running = w3.housekeep(env.clock.now);
      try {
        await waitFor(
          'w3 to hold the timer',
          async () => (await leaseOf())?.lease_owner?.startsWith('w3/') === true,
        );
        // Past the lease on the worker's clock: a lease left alone would lapse now.
        env.clock.now += 1000;
        await waitFor(
          'the lease to be renewed past the clock',
          async () => ((await leaseOf())?.lease_until ?? 0) > env.clock.now,
        );
        await Promise.all(ws.map((w) => w.housekeep(env.clock.now)));
        expect(reminders(env, lead!.id)).toHaveLength(0);
        expect((await leaseOf())?.lease_owner).toMatch(/^w3\//);
      } finally {
        release();
        await running;
      }
      expect(reminders(env, lead!.id)).toHaveLength(1);
      await env.close();
    });

    it('a worker that stops right after sending a reminder: the other takes over when the lease ends and sends none again', async () => {
      const { env, timers } = await start();
      const [, w2] = await workers(env);
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(w2!);
      // w1's process dies once HubSpot has made the task: the answer never comes, nothing after it runs.
      const stopping: CrmConnector = Object.assign(Object.create(env.connector) as CrmConnector, {
        createTasks: async (tasks: Parameters<CrmConnector['createTasks']>[0]) => {
          await env.connector.createTasks(tasks);
          return new Promise<never>(() => undefined);
        },
      });
      const at = T0 + 5 * MIN + 1000;
      env.clock.now = at;
      const w1 = env.worker('w1', { registry: env.registryWith(stopping), sla: { gatherMs: 0 } });
      void w1.housekeep(at);
      const stepOf = async () => (await timers.stepsFor(TENANT, lead!.id)).map((s) => [s.kind, s.status]);
      for (let i = 0; i < 500 && reminders(env, lead!.id).length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(reminders(env, lead!.id)).toHaveLength(1);
      expect(await stepOf()).toEqual([['remind', 'sent']]);
      // While w1's lease (2 minutes) lasts, w2 leaves the timer alone.
      env.clock.now = at + MIN;
      await w2!.housekeep(env.clock.now);
      expect(await stepOf()).toEqual([['remind', 'sent']]);
      env.clock.now = at + 2 * MIN;
      await w2!.housekeep(env.clock.now);
      const made = reminders(env, lead!.id);
      expect(made).toHaveLength(1);
      expect((await timers.stepsFor(TENANT, lead!.id)).map((s) => [s.kind, s.status, s.crmId])).toEqual([
        ['remind', 'done', made[0]!.objectId],
      ]);
      await env.close();
    });

    it('escalates to a named rep: their owner written once, the step in the trace, the timer ended', async () => {
      const named = toDevAfter20m();
      expect(named).toContain('escalate: { rep: dev@acme.io }');
      const env = await open(named);
      const timers = new SlaTimerRepository(env.storage.db);
      const ws = await workers(env);
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(ws[0]!);
      await tick(env, ws, T0 + 19 * MIN);
      expect(env.writes('owner.set', lead!.id)).toHaveLength(1);
      await tick(env, ws, T0 + 20 * MIN + 1000);
      await tick(env, ws, T0 + 3 * 60 * MIN);
      expect(env.writes('owner.set', lead!.id).map((w) => w.details['to'])).toEqual([
        ownerId(env, 'nina@acme.io'),
        ownerId(env, 'dev@acme.io'),
      ]);
      expect(reminders(env, lead!.id)).toHaveLength(0);
      expect((await timers.stepsFor(TENANT, lead!.id)).map((s) => [s.kind, s.status, s.owner])).toEqual([
        ['breach', 'done', 'nina@acme.io'],
        ['escalate', 'done', 'nina@acme.io'],
      ]);
      const [timer] = await env.storage.slaTimersFor(TENANT, lead!.id);
      expect(timer?.state).toBe('breached');
      const tenant = (await env.storage.getTenant(TENANT))!;
      expect((await explainLead(env.storage, tenant, lead!.id, { reps: {}, queues: {} })).join('\n')).toMatch(
        /escalate \(owner nina@acme\.io\): not touched: after 20m escalate to dev@acme\.io/,
      );
      await env.close();
    });

    it('an escalation the CRM refuses ends failed: not told as an escalation, the owner we wrote still the one expected', async () => {
      const named = toDevAfter20m();
      const env = await open(named);
      const timers = new SlaTimerRepository(env.storage.db);
      const notifications = new NotificationRepository(env.storage.db);
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(env.worker());
      // The CRM refuses the escalation's owner write for good (a validation error, not an outage).
      const refusing: CrmConnector = Object.assign(Object.create(env.connector) as CrmConnector, {
        setOwners: (items: readonly unknown[]) =>
          Promise.resolve(
            items.map(() => ({
              ok: false,
              error: new CrmError('invalid', 'owner write refused by a validation rule'),
            })),
          ),
      });
      const ws = await workers(env, { connector: refusing });
      await tick(env, ws, T0 + 20 * MIN + 1000);
      await tick(env, ws, T0 + 3 * 60 * MIN);
      expect(env.writes('owner.set', lead!.id).map((w) => w.details['to'])).toEqual([
        ownerId(env, 'nina@acme.io'),
      ]);
      expect((await timers.stepsFor(TENANT, lead!.id)).map((s) => [s.kind, s.status, s.error])).toEqual([
        ['breach', 'done', null],
        ['escalate', 'failed', 'HubSpot refused: owner write refused by a validation rule'],
      ]);
      expect((await notifications.deliveries(TENANT)).map((d) => d.event)).not.toContain('lead.escalation');
      const timer = await env.storage.db.get<{ expected_owner: string | null }>(
        'SELECT expected_owner FROM sla_timers WHERE lead_id = ?',
        [lead!.id],
      );
      expect(timer?.expected_owner).toBe('nina@acme.io');
      await env.close();
    });

    it('two re-routes in a row: the second skips every rep who had the lead, not only the last', async () => {
      const twice = withSteps(
        '        - { after: 15m, reroute: true }\n        - { after: 30m, reroute: true }',
      ).replace(`members: [${NA.join(', ')}]`, 'members: [nina@acme.io, omar@acme.io, paula@acme.io]');
      expect(twice).toContain('after: 30m, reroute: true');
      const env = await open(twice);
      const ws = await workers(env);
      const [lead, other] = env.demo.createContacts(2, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(ws[0]!);
      await tick(env, ws, T0 + 15 * MIN + 1000);
      await tick(env, ws, T0 + 16 * MIN);
      // Another lead takes paula's turn: the rotation's next is nina, who had the first lead.
      await env.enqueueCreated([other!]);
      await Promise.all(ws.map((w) => env.drain(w)));
      expect(env.writes('owner.set', other!.id).map((w) => w.details['to'])).toEqual([
        ownerId(env, 'paula@acme.io'),
      ]);
      await tick(env, ws, T0 + 30 * MIN + 1000);
      await tick(env, ws, T0 + 31 * MIN);
      expect(env.writes('owner.set', lead!.id).map((w) => w.details['to'])).toEqual([
        ownerId(env, 'nina@acme.io'),
        ownerId(env, 'omar@acme.io'),
        ownerId(env, 'paula@acme.io'),
      ]);
      const second = await env.storage.findDecision(TENANT, `${lead!.id}:route:sla:1:2`);
      expect(second?.trace.steps[0]).toMatch(/never back to nina@acme\.io, omar@acme\.io$/);
      await env.close();
    });

    it('a re-route whose timer was not moved on (the worker died after enqueueing it) is recognized as ours once routed, and the chain goes on', async () => {
      const { env, timers, notifications, ws, lead } = await oneRoutedLead();
      await tick(env, ws, T0 + 10 * MIN + 1000);
      // w3 takes the re-route step and enqueues its event, then its database connection drops before
      // the timer's advance (the re-route marker) is stored: as if the process had died there.
      const failing = Object.assign(Object.create(env.storage.slaTimers) as SlaTimerRepository, {
        advance: (...args: Parameters<SlaTimerRepository['advance']>) =>
          typeof args[3].rerouting === 'string'
            ? Promise.reject(new Error('connection lost'))
            : env.storage.slaTimers.advance(...args),
      });
      const storage = Object.assign(Object.create(env.storage) as Storage, { slaTimers: failing });
      env.clock.now = T0 + 15 * MIN + 1000;
      const notifier = new Notifier({ repository: env.storage.notifications, logger, baseDelayMs: MIN });
      await env.worker('w3', { storage, notifier, sla: { gatherMs: 0 } }).housekeep(env.clock.now);
      const timerRow = () =>
        env.storage.db.get<{
          state: string;
          outcome: string | null;
          checkpoint: number;
          rerouting: string | null;
          expected_owner: string | null;
        }>('SELECT state, outcome, checkpoint, rerouting, expected_owner FROM sla_timers WHERE lead_id = ?', [
          lead!.id,
        ]);
      expect(await timerRow()).toMatchObject({ state: 'armed', checkpoint: 2, rerouting: null });
      // Another worker routes the re-route before the timer is retried: the new owner is written.
      await env.drain(ws[1]!);
      const owners = () => env.writes('owner.set', lead!.id).map((w) => w.details['to']);
      expect(owners()).toEqual([ownerId(env, 'nina@acme.io'), ownerId(env, 'omar@acme.io')]);

      // The retry sees omar, written by our own re-route, not by a person: the timer goes on with him.
      await tick(env, ws, T0 + 17 * MIN);
      await tick(env, ws, T0 + 18 * MIN);
      expect(await timerRow()).toMatchObject({
        state: 'armed',
        checkpoint: 3,
        rerouting: null,
        expected_owner: 'omar@acme.io',
      });
      await tick(env, ws, T0 + 60 * MIN + 1000);
      await tick(env, ws, T0 + 3 * 60 * MIN);
      expect(owners()).toEqual([
        ownerId(env, 'nina@acme.io'),
        ownerId(env, 'omar@acme.io'),
        ownerId(env, 'dev@acme.io'),
      ]);
      expect((await timers.stepsFor(TENANT, lead!.id)).map((s) => [s.kind, s.status, s.owner])).toEqual([
        ['remind', 'done', 'nina@acme.io'],
        ['breach', 'done', 'nina@acme.io'],
        ['reroute', 'done', 'nina@acme.io'],
        ['escalate', 'done', 'omar@acme.io'],
      ]);
      expect(await timerRow()).toMatchObject({ state: 'breached', outcome: 'unmet' });
      // The re-route taken again on the retry is told once, with its step.
      expect((await notifications.deliveries(TENANT)).map((d) => [d.event, d.state])).toEqual([
        ['lead.reminder', 'delivered'],
        ['lead.reroute', 'delivered'],
        ['lead.escalation', 'delivered'],
      ]);
      await env.close();
    });

    it('escalates to the owner’s manager from the team file, told to the pool’s channel; an owner without a manager keeps the lead, saying why', async () => {
      const managed = withSteps('        - { after: 20m, escalate: manager }')
        .replace(
          'nina@acme.io: { timezone: America/New_York }',
          'nina@acme.io: { timezone: America/New_York, manager: Dev@Acme.io }',
        )
        // The channel is the pool's, not the route's: the pool's channels hear of SLA steps too.
        .replace('    notify: [ops]\n', '')
        .replace('fallback: { queue: triage } }', 'fallback: { queue: triage }, notify: [ops] }');
      expect(managed).toContain('escalate: manager');
      expect(managed).toContain('notify: [ops] }');
      const env = await open(managed);
      const timers = new SlaTimerRepository(env.storage.db);
      const notifications = new NotificationRepository(env.storage.db);
      const ws = await workers(env);
      // Round robin: the first lead goes to nina (managed by dev), the second to omar (no manager).
      const [ninas, omars] = env.demo.createContacts(2, 'import');
      await env.enqueueCreated([ninas!, omars!]);
      await env.drain(ws[0]!);
      await tick(env, ws, T0 + 19 * MIN);
      await tick(env, ws, T0 + 20 * MIN + 1000);
      await tick(env, ws, T0 + 2 * 60 * MIN);
      expect(env.writes('owner.set', ninas!.id).map((w) => w.details['to'])).toEqual([
        ownerId(env, 'nina@acme.io'),
        ownerId(env, 'dev@acme.io'),
      ]);
      expect(env.writes('owner.set', omars!.id).map((w) => w.details['to'])).toEqual([
        ownerId(env, 'omar@acme.io'),
      ]);
      const ninaSteps = await timers.stepsFor(TENANT, ninas!.id);
      const omarSteps = await timers.stepsFor(TENANT, omars!.id);
      expect(ninaSteps.map((s) => [s.kind, s.status, s.owner, s.detail])).toEqual([
        ['breach', 'done', 'nina@acme.io', expect.stringContaining('SLA breached')],
        ['escalate', 'done', 'nina@acme.io', 'not touched: after 20m escalate to the owner’s manager'],
      ]);
      expect(omarSteps.map((s) => [s.kind, s.status, s.error])).toEqual([
        ['breach', 'done', null],
        [
          'escalate',
          'failed',
          expect.stringMatching(/^configuration error: omar@acme\.io has no manager: give them manager:/),
        ],
      ]);
      expect(
        (await notifications.deliveries(TENANT)).map((d) => [d.leadId, d.event, d.channel, d.state]),
      ).toEqual([[ninas!.id, 'lead.escalation', 'ops:webhook', 'delivered']]);
      await env.close();
    });

    it('a touched lead is left alone, and its first touch is kept', async () => {
      const { env, timers } = await start();
      const ws = await workers(env);
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(ws[0]!);
      // The rep calls the lead 3 minutes in (HubSpot moves notes_last_contacted).
      env.demo.portal.updateObject(
        'contacts',
        lead!.id,
        { notes_last_contacted: new Date(T0 + 3 * MIN).toISOString() },
        'admin',
      );
      await tick(env, ws, T0 + 5 * MIN + 1000);
      await tick(env, ws, T0 + 2 * 60 * MIN);
      expect(reminders(env, lead!.id)).toHaveLength(0);
      expect(env.writes('owner.set', lead!.id)).toHaveLength(1);
      const [timer] = await env.storage.slaTimersFor(TENANT, lead!.id);
      expect(timer?.state).toBe('met');
      const row = await env.storage.db.get<{ first_touch_at: number; outcome: string; touch_signal: string }>(
        'SELECT first_touch_at, outcome, touch_signal FROM sla_timers WHERE id = ?',
        [timer!.id],
      );
      expect(row).toEqual({ first_touch_at: T0 + 3 * MIN, outcome: 'met', touch_signal: 'contacted' });
      expect((await timers.stepsFor(TENANT, lead!.id)).map((s) => s.kind)).toEqual(['met']);
      await env.close();
    });

    it('a lead re-owned by a person is left alone', async () => {
      const { env, timers } = await start();
      const ws = await workers(env);
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(ws[0]!);
      env.demo.portal.updateObject(
        'contacts',
        lead!.id,
        { hubspot_owner_id: ownerId(env, 'sam@acme.io') },
        'admin',
      );
      await tick(env, ws, T0 + 5 * MIN + 1000);
      await tick(env, ws, T0 + 2 * 60 * MIN);
      expect(reminders(env, lead!.id)).toHaveLength(0);
      expect(env.writes('owner.set', lead!.id)).toHaveLength(1);
      const [timer] = await env.storage.slaTimersFor(TENANT, lead!.id);
      expect(timer?.state).toBe('cancelled');
      expect((await timers.stepsFor(TENANT, lead!.id)).map((s) => [s.kind, s.detail])).toEqual([
        ['left_alone', 'its owner was changed by someone else: left alone'],
      ]);
      await env.close();
    });

    it('a timer due while the CRM is down waits and acts once it is back', async () => {
      const { env } = await start();
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(env.worker());
      const down: CrmConnector = Object.assign(Object.create(env.connector) as CrmConnector, {
        touchedLeads: () => Promise.reject(new CrmError('transient', 'HubSpot answered 503')),
      });
      const sla = { recheckMs: 30_000, gatherMs: 0, retryMs: 60_000 };
      const broken = env.worker('w1', { registry: env.registryWith(down), sla });
      env.clock.now = T0 + 5 * MIN + 1000;
      await broken.housekeep(env.clock.now);
      expect(reminders(env, lead!.id)).toHaveLength(0);
      const waiting = await env.storage.db.get<{
        state: string;
        attempts: number;
        last_error: string;
        due_at: number;
      }>('SELECT state, attempts, last_error, due_at FROM sla_timers WHERE lead_id = ?', [lead!.id]);
      expect(waiting).toEqual({
        state: 'armed',
        attempts: 1,
        last_error: 'HubSpot answered 503',
        due_at: T0 + 6 * MIN + 1000,
      });
      const ws = await workers(env);
      await tick(env, ws, T0 + 6 * MIN);
      expect(reminders(env, lead!.id)).toHaveLength(0);
      await tick(env, ws, T0 + 6 * MIN + 1000);
      await tick(env, ws, T0 + 7 * MIN);
      expect(reminders(env, lead!.id)).toHaveLength(1);
      await env.close();
    });

    it('a check refused by a rate window waits what the CRM says, not the outage backoff', async () => {
      const { env } = await start();
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(env.worker());
      const limited: CrmConnector = Object.assign(Object.create(env.connector) as CrmConnector, {
        touchedLeads: () =>
          Promise.reject(
            new CrmError('rate_limited', 'You have reached your secondly limit.', { retryAfterMs: 1_000 }),
          ),
      });
      const sla = { recheckMs: 30_000, gatherMs: 0, retryMs: 60_000 };
      env.clock.now = T0 + 5 * MIN + 1000;
      await env.worker('w1', { registry: env.registryWith(limited), sla }).housekeep(env.clock.now);
      expect(
        await env.storage.db.get<{ state: string; due_at: number }>(
          'SELECT state, due_at FROM sla_timers WHERE lead_id = ?',
          [lead!.id],
        ),
      ).toEqual({ state: 'armed', due_at: T0 + 5 * MIN + 2000 });
      await env.close();
    });

    it('rate windows and a pause do not lengthen the outage backoff: only a failed check counts', async () => {
      const { env } = await start();
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(env.worker());
      let refusal: () => Promise<never> = () =>
        Promise.reject(
          new CrmError('rate_limited', 'You have reached your secondly limit.', { retryAfterMs: 1_000 }),
        );
      const refusing: CrmConnector = Object.assign(Object.create(env.connector) as CrmConnector, {
        touchedLeads: () => refusal(),
      });
      const sla = { recheckMs: 30_000, gatherMs: 0, retryMs: 60_000 };
      const worker = env.worker('w1', { registry: env.registryWith(refusing), sla });
      const timer = () =>
        env.storage.db.get<{ attempts: number; due_at: number; last_error: string }>(
          'SELECT attempts, due_at, last_error FROM sla_timers WHERE lead_id = ?',
          [lead!.id],
        );
      env.clock.now = T0 + 5 * MIN + 1000;
      for (let i = 0; i < 3; i++) {
        await worker.housekeep(env.clock.now);
        expect((await timer())!.due_at).toBe(env.clock.now + 1000);
        env.clock.now += 1000;
      }
      expect((await timer())!.attempts).toBe(0);

      // The org's login hours pause the tenant while the check runs (the lead worker found it): the timer
      // waits, unclaimed, due again the moment the tenant resumes, without an attempt spent.
      const paused = env.clock.now;
      refusal = async () => {
        await env.storage.pauseTenant(
          TENANT,
          { reason: 'outside login hours', checkAt: paused + 60 * MIN },
          paused,
        );
        throw new TenantPausedError(TENANT, 'outside login hours');
      };
      await worker.housekeep(paused);
      expect(await timer()).toEqual({
        attempts: 0,
        due_at: paused,
        last_error: `tenant ${TENANT} is paused: outside login hours`,
      });
      await worker.housekeep(paused + 1000);
      expect((await timer())!.due_at).toBe(paused);

      // A real outage then waits the first backoff step, as if the windows and the pause never were.
      await env.storage.resumeTenant(TENANT, paused);
      refusal = () => Promise.reject(new CrmError('transient', 'HubSpot answered 503'));
      env.clock.now = paused + 1000;
      await worker.housekeep(env.clock.now);
      expect(await timer()).toEqual({
        attempts: 1,
        due_at: env.clock.now + 60_000,
        last_error: 'HubSpot answered 503',
      });
      await env.close();
    });

    it('a step whose notification cannot be written is not done; once it can, each step is told once', async () => {
      const { env, timers, notifications, ws, lead } = await oneRoutedLead();
      const told = async () => (await notifications.deliveries(TENANT)).map((d) => [d.event, d.state]);
      const stepsOf = async () => (await timers.stepsFor(TENANT, lead!.id)).map((s) => [s.kind, s.status]);
      const dueAt = async () => (await env.storage.slaTimersFor(TENANT, lead!.id))[0]!.dueAt;

      // The reminder task is made, but its step's end and its notification are refused together.
      await refuseNotifications(env, true);
      await tick(env, ws, T0 + 5 * MIN + 1000);
      expect(reminders(env, lead!.id)).toHaveLength(1);
      expect(await stepsOf()).toEqual([['remind', 'sent']]);
      expect(await told()).toEqual([]);
      await refuseNotifications(env, false);
      await tick(env, ws, await dueAt());
      expect(reminders(env, lead!.id)).toHaveLength(1);
      expect(await stepsOf()).toEqual([['remind', 'done']]);
      expect(await told()).toEqual([['lead.reminder', 'delivered']]);

      // The re-route's step is refused: not recorded, and the lead is not re-routed meanwhile.
      await refuseNotifications(env, true);
      await tick(env, ws, T0 + 15 * MIN + 1000);
      expect(await stepsOf()).toEqual([
        ['remind', 'done'],
        ['breach', 'done'],
      ]);
      expect(env.writes('owner.set', lead!.id)).toHaveLength(1);
      await refuseNotifications(env, false);
      await tick(env, ws, await dueAt());
      await tick(env, ws, (await dueAt()) + 1000);
      expect(env.writes('owner.set', lead!.id).map((w) => w.details['to'])).toEqual([
        ownerId(env, 'nina@acme.io'),
        ownerId(env, 'omar@acme.io'),
      ]);

      await tick(env, ws, T0 + 60 * MIN + 1000);
      await tick(env, ws, T0 + 3 * 60 * MIN);
      expect(await stepsOf()).toEqual([
        ['remind', 'done'],
        ['breach', 'done'],
        ['reroute', 'done'],
        ['escalate', 'done'],
      ]);
      expect(await told()).toEqual([
        ['lead.reminder', 'delivered'],
        ['lead.reroute', 'delivered'],
        ['lead.escalation', 'delivered'],
      ]);
      await env.close();
    });

    it('a notification receiver that is down gets the delivery later, once, signed', async () => {
      const { env, notifications } = await start();
      const ws = await workers(env);
      hook.down = true;
      hook.hits.length = 0;
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(ws[0]!);
      await tick(env, ws, T0 + 5 * MIN + 1000);
      expect(hook.hits.map((h) => h.status)).toEqual([503]);
      expect(await notifications.channel(TENANT, 'ops:webhook')).toMatchObject({ state: 'failing' });
      // Still down at the first retry; back up for the next.
      await tick(env, ws, T0 + 6 * MIN + 2000);
      hook.down = false;
      await tick(env, ws, T0 + 9 * MIN);
      await tick(env, ws, T0 + 9 * MIN + 1000);
      const taken = hook.hits.filter((h) => h.status === 200);
      expect(hook.hits.map((h) => h.status)).toEqual([503, 503, 200]);
      expect(new Set(hook.hits.map((h) => h.headers['webhook-id'])).size).toBe(1);
      const payload = new Webhook(SECRET).verify(taken[0]!.body, taken[0]!.headers) as Record<
        string,
        unknown
      >;
      expect(payload).toMatchObject({ type: 'lead.reminder', tenantId: TENANT, leadId: lead!.id });
      expect(String(payload['reason'])).toMatch(/not touched: after 5m remind/);
      // A forged body does not verify.
      expect(() =>
        new Webhook(SECRET).verify(taken[0]!.body.replace('reminder', 'escalation'), taken[0]!.headers),
      ).toThrow();
      expect(await notifications.channel(TENANT, 'ops:webhook')).toMatchObject({ state: 'ok' });
      await env.close();
    });
  });
});

// The CRM dates a lead status change by its own clock (property history): here the sandbox keeps the
// test's fixed clock, so a change made "3 minutes in" is stamped 3 minutes in.
describe.each(ENGINES)('SLA first touch by lead status history (%s)', (engine, suite) => {
  let following: { now: number } | undefined;
  const historySandbox = useSandbox({ clock: { now: () => following?.now ?? Date.now() } });
  const remindersOf = (env: Env, leadId: string) =>
    env
      .tasksFor(leadId)
      .flatMap((a) => env.writes('task.created', a.objectId))
      .filter((w) => String(w.details['hs_task_subject']).startsWith('SLA reminder'));
  suite('', () => {
    it('a lead status change is dated by its history: met when it changed, not when seen; a status set before the owner write is no touch', async () => {
      const env = await setup(historySandbox(), {
        engine,
        rules: `touch: [status]\n${rules('http://127.0.0.1:9/')}`,
      });
      const timers = new SlaTimerRepository(env.storage.db);
      following = env.clock;
      const ws = [env.worker('w1', { sla: { recheckMs: 30_000, gatherMs: 0 } })];
      const tick = async (at: number): Promise<void> => {
        env.clock.now = at;
        await ws[0]!.housekeep(at);
        await env.drain(ws[0]!);
        await ws[0]!.housekeep(at);
      };
      env.clock.now = T0 - 2 * MIN;
      const [changed, preset] = env.demo.createContacts(2, 'import');
      // A workflow set this one's status before routing: not the owner's touch.
      env.clock.now = T0 - MIN;
      env.demo.portal.updateObject('contacts', preset!.id, { hs_lead_status: 'OPEN' }, 'admin');
      env.clock.now = T0;
      await env.enqueueCreated([changed!, preset!]);
      await env.drain(ws[0]!);
      // The rep moves the first lead's status 3 minutes in; the check sees it 2 minutes later.
      env.clock.now = T0 + 3 * MIN;
      env.demo.portal.updateObject('contacts', changed!.id, { hs_lead_status: 'IN_PROGRESS' }, 'admin');
      await tick(T0 + 5 * MIN + 1000);
      const row = async (leadId: string) => {
        const [timer] = await env.storage.slaTimersFor(TENANT, leadId);
        return env.storage.db.get<{
          first_touch_at: number | null;
          outcome: string | null;
          touch_signal: string | null;
        }>('SELECT first_touch_at, outcome, touch_signal FROM sla_timers WHERE id = ?', [timer!.id]);
      };
      expect(await row(changed!.id)).toEqual({
        first_touch_at: T0 + 3 * MIN,
        outcome: 'met',
        touch_signal: 'status',
      });
      expect(remindersOf(env, changed!.id)).toHaveLength(0);
      expect((await timers.stepsFor(TENANT, preset!.id)).map((s) => s.kind)).toEqual(['remind']);
      expect(remindersOf(env, preset!.id)).toHaveLength(1);
      await env.close();
    });
  });
});
