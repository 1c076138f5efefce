// Notifications end to end over the sandbox CRM, on SQLite and PostgreSQL: an assignment and a dead
// letter reach a local receiver signed per Standard Webhooks (checked with the library's own verify) and
// a local server posing as Slack's incoming webhook (posted by the real `@slack/webhook` client); a
// receiver that keeps failing is given up after the window and reported; and a notification is committed
// with its decision — or not at all — so a worker stopped before delivering it loses nothing.
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { capturingLogger } from '../support/logs.js';
import { CrmRegistry } from '../../src/app/crms.js';
import { Tenants } from '../../src/app/tenants.js';
import { Metrics } from '../../src/metrics.js';
import { Notifier, type NotifierOptions } from '../../src/notify/notifier.js';
import { ruleSetVersion } from '../../src/rules/index.js';
import { TenantConfigRepository, type Storage } from '../../src/storage/index.js';
import { receiver, type Receiver } from './receiver.js';
import {
  created,
  ENGINES,
  logger,
  NA,
  refuseNotifications,
  setup,
  T0,
  TENANT,
  useSandbox,
} from './support.js';

const sandbox = useSandbox();
const MIN = 60_000;
const SECRET = `whsec_${Buffer.from('lead-router notify test secret, 32 b').toString('base64')}`;

const rules = (hook: string): string => `
name: Notify test
pools:
  na: { members: [${NA.join(', ')}], strategy: round_robin, fallback: { queue: triage }, notify: [sales] }
notifications:
  sales: { slack: { url_env: NOTIFY_TEST_SLACK_URL }, on: [assignment] }
  ops: { webhook: { url: '${hook}', secret_env: NOTIFY_TEST_SECRET }, on: [assignment, dead_letter] }
routes:
  - name: Inbound
    assign: { pool: na }
    task: { subject: 'New lead {{email}}', due: 1h }
    notify: [ops]
fallback: { queue: triage }
team:
  reps:
    nina@acme.io: { timezone: America/New_York }
    omar@acme.io: { timezone: America/Chicago }
    paula@acme.io: { timezone: America/Los_Angeles }
    sam@acme.io: { timezone: America/New_York }
  queues: { triage: { team: SMB } }
`;

type Payload = Record<string, unknown>;

describe.each(ENGINES)('notifications (%s)', (engine, suite) => {
  suite('', () => {
    let hook: Receiver;
    let slack: Receiver;
    beforeAll(async () => {
      hook = await receiver();
      slack = await receiver('/services/T000/B000/XXXX');
    });
    afterAll(async () => {
      await hook.close();
      await slack.close();
    });
    beforeEach(() => {
      hook.down = false;
      slack.down = false;
      hook.hits.length = 0;
      slack.hits.length = 0;
    });

    const notifier = (storage: Storage, over: Partial<NotifierOptions> = {}): Notifier =>
      new Notifier({
        repository: storage.notifications,
        logger,
        env: { NOTIFY_TEST_SLACK_URL: slack.url, NOTIFY_TEST_SECRET: SECRET },
        baseDelayMs: MIN,
        ...over,
      });
    /** The receiver's hits, verified with the real library: a bad signature throws. */
    const verified = (r: Receiver): Payload[] =>
      r.hits
        .filter((h) => h.status === 200)
        .map((h) => new Webhook(SECRET).verify(h.body, h.headers) as Payload);

    it('an assignment is delivered signed, with the lead’s summary and the reason', async () => {
      const env = await setup(sandbox(), { engine, rules: rules(hook.url) });
      const worker = env.worker('w1', { notifier: notifier(env.storage) });
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(worker);
      expect(hook.hits).toHaveLength(0); // routing never waits on a receiver
      await worker.housekeep(env.clock.now);

      const [decided] = env.decisions;
      const [payload] = verified(hook);
      expect(hook.hits).toHaveLength(1);
      expect(payload).toEqual({
        type: 'lead.assignment',
        tenantId: TENANT,
        leadId: lead!.id,
        summary: decided!.summary,
        // No fallback step taken: the route that decided is the reason.
        reason: 'route Inbound',
        owner: 'nina@acme.io',
        at: new Date(T0).toISOString(),
      });
      expect(hook.hits[0]!.headers['webhook-id']).toMatch(/^msg_/);
      // A forged body does not verify.
      expect(() =>
        new Webhook(SECRET).verify(hook.hits[0]!.body.replace('nina', 'omar'), hook.hits[0]!.headers),
      ).toThrow();
      await env.close();
    });

    it('a dead letter is delivered signed, with the reason it was not routed', async () => {
      const env = await setup(sandbox(), { engine, rules: rules(hook.url) });
      const worker = env.worker('w1', { notifier: notifier(env.storage) });
      await env.storage.enqueue([{ tenantId: TENANT, event: created('999999', 'gone') }], T0);
      await env.drain(worker);
      const [dead] = await env.storage.deadLetters(TENANT);
      expect(dead?.lastError).toMatch(/999999 not found/);
      await worker.housekeep(env.clock.now);

      expect(verified(hook)).toEqual([
        {
          type: 'lead.dead_letter',
          tenantId: TENANT,
          leadId: '999999',
          summary: 'lead 999999 was not routed',
          reason: dead!.lastError,
          at: new Date(T0).toISOString(),
        },
      ]);
      // Slack listens for assignments only.
      expect(slack.hits).toHaveLength(0);
      await env.close();
    });

    it('an item the reaper dead-letters after too many expired leases is told to the tenant’s channels, once', async () => {
      const env = await setup(sandbox(), { engine, rules: rules(hook.url) });
      const worker = env.worker('w1', { notifier: notifier(env.storage), backoff: { maxAttempts: 2 } });
      await env.storage.enqueue([{ tenantId: TENANT, event: created('424242', 'poison') }], T0);
      // A poison event: each worker that claims it dies before settling it; the reaper takes it back.
      for (const at of [T0 + MIN, T0 + 2 * MIN]) {
        expect(await env.storage.claim({ workerId: 'dies', limit: 1, leaseMs: 1, now: at })).toHaveLength(1);
        env.clock.now = at + 2;
        await worker.housekeep(env.clock.now);
      }
      const [dead] = await env.storage.deadLetters(TENANT);
      expect(dead?.lastError).toBe('lease expired after 2 attempts');
      const told = {
        type: 'lead.dead_letter',
        tenantId: TENANT,
        leadId: '424242',
        summary: 'lead 424242 was not routed',
        reason: 'lease expired after 2 attempts',
        at: new Date(T0 + 2 * MIN + 2).toISOString(),
      };
      expect(verified(hook)).toEqual([told]);
      await worker.housekeep(T0 + 10 * MIN);
      expect(verified(hook)).toEqual([told]);
      await env.close();
    });

    it('a tenant whose runtime does not load: its dead letters go to its published rule set’s channels; with none, they are logged', async () => {
      const env = await setup(sandbox(), { engine, rules: rules(hook.url) });
      const { logger: captured, records } = capturingLogger();
      // The real registry: the tenant has no tokens, so its runtime never loads.
      const tenants = new Tenants({
        storage: env.storage,
        crms: new CrmRegistry(),
        team: undefined,
        clock: () => env.clock.now,
      });
      const worker = env.worker('w1', {
        registry: tenants,
        logger: captured,
        notifier: notifier(env.storage),
      });
      await env.storage.enqueue([{ tenantId: TENANT, event: created('111', 'unpublished') }], T0);
      await env.drain(worker);
      await worker.housekeep(env.clock.now);
      expect((await env.storage.deadLetters(TENANT)).map((d) => d.event.objectId)).toEqual(['111']);
      expect(hook.hits).toHaveLength(0);
      expect(records().filter((l) => String(l['message']).startsWith('dead letters not notified'))).toEqual([
        expect.objectContaining({ level: 'error', tenantId: TENANT, count: 1 }),
      ]);

      const source = rules(hook.url);
      await new TenantConfigRepository(env.storage.db).publish(
        TENANT,
        {
          rules: { version: ruleSetVersion(source), name: 'Notify test', source },
          publishedBy: 'test',
          note: '',
        },
        T0,
      );
      await env.storage.enqueue([{ tenantId: TENANT, event: created('222', 'published') }], T0);
      await env.drain(worker);
      await worker.housekeep(env.clock.now);
      const [payload] = verified(hook);
      expect(hook.hits).toHaveLength(1);
      expect(payload).toMatchObject({ type: 'lead.dead_letter', tenantId: TENANT, leadId: '222' });
      expect(String(payload!['reason'])).toMatch(/not installed/);
      await env.close();
    });

    it('Slack’s incoming webhook is posted the summary and the reason', async () => {
      const env = await setup(sandbox(), { engine, rules: rules(hook.url) });
      const worker = env.worker('w1', { notifier: notifier(env.storage) });
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(worker);
      await worker.housekeep(env.clock.now);

      const [decided] = env.decisions;
      expect(slack.hits.map((h) => [h.status, h.headers['content-type']])).toEqual([
        [200, 'application/json'],
      ]);
      const { text } = JSON.parse(slack.hits[0]!.body) as { text: string };
      expect(text).toContain(decided!.summary);
      expect(text).toContain('— route Inbound');
      expect(text).toMatch(/^assignment: /);
      const sent = await env.storage.notifications.deliveries(TENANT);
      expect(sent.map((d) => [d.channel, d.state])).toEqual([
        ['ops:webhook', 'delivered'],
        ['sales:slack', 'delivered'],
      ]);
      await env.close();
    });

    it('a receiver that keeps failing is given up after the window, marked failing and reported', async () => {
      const env = await setup(sandbox(), { engine, rules: rules(hook.url) });
      const { logger: captured, records } = capturingLogger();
      const metrics = new Metrics({ defaultMetrics: false });
      const worker = env.worker('w1', {
        notifier: notifier(env.storage, {
          logger: captured,
          giveUpAfterMs: 10 * MIN,
          onGiveUp: (tenantId, channel) => metrics.notificationGivenUp(tenantId, channel),
        }),
      });
      hook.down = true;
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(worker);
      // Backoff 1, 2, 4, 8 min: tried at 0, 1, 3 and 7 min; at 15 min it is past the 10-minute window.
      for (const at of [0, 1, 3, 7, 15, 31, 60]) {
        env.clock.now = T0 + at * MIN;
        await worker.housekeep(env.clock.now);
      }

      expect(hook.hits.map((h) => h.status)).toEqual([503, 503, 503, 503, 503]);
      const ops = (await env.storage.notifications.deliveries(TENANT)).filter(
        (d) => d.channel === 'ops:webhook',
      );
      expect(ops.map((d) => [d.state, d.attempts, d.lastError])).toEqual([
        ['failed', 5, 'receiver answered 503'],
      ]);
      expect(await env.storage.notifications.channel(TENANT, 'ops:webhook')).toEqual({
        tenantId: TENANT,
        channel: 'ops:webhook',
        state: 'failing',
        failingSince: T0,
        lastError: 'receiver answered 503',
      });
      // Slack was up: its channel is fine.
      expect(await env.storage.notifications.channel(TENANT, 'sales:slack')).toMatchObject({ state: 'ok' });
      const givenUp = records().filter(
        (l) => l['message'] === 'notification given up: its receiver kept failing',
      );
      expect(givenUp).toEqual([
        expect.objectContaining({
          level: 'error',
          tenantId: TENANT,
          leadId: lead!.id,
          channel: 'ops:webhook',
          attempt: 5,
          failingSince: new Date(T0).toISOString(),
        }),
      ]);
      expect(records().filter((l) => l['message'] === 'notification not delivered; will retry')).toHaveLength(
        4,
      );
      const counted = await metrics.registry
        .getSingleMetric('lead_router_notifications_given_up_total')!
        .get();
      expect(counted.values).toEqual([{ labels: { tenant: TENANT, channel: 'ops:webhook' }, value: 1 }]);
      await env.close();
    });

    it('a notification is committed with its decision: a worker stopped before delivering it loses nothing', async () => {
      const env = await setup(sandbox(), {
        engine,
        file: join(sandbox().dir, `survives-${engine}.db`),
        rules: rules(hook.url),
      });
      const first = env.worker('w1', { notifier: notifier(env.storage) });
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(first);
      // The first worker stops here: routed, nothing delivered. Another process, on its own connection,
      // sees the decision and its notification, both committed.
      const other = await env.openStorage();
      const decisions = await other.decisionsFor(TENANT, { leadId: lead!.id });
      expect(decisions.map((d) => d.owner)).toEqual(['nina@acme.io']);
      expect(
        (await other.notifications.deliveries(TENANT)).map((d) => [d.event, d.channel, d.state]),
      ).toEqual([
        ['lead.assignment', 'ops:webhook', 'pending'],
        ['lead.assignment', 'sales:slack', 'pending'],
      ]);
      expect(hook.hits).toHaveLength(0);

      // A worker of the other process delivers it, once, however often it runs.
      const second = env.worker('w2', { storage: other, notifier: notifier(other) });
      await second.housekeep(T0);
      await second.housekeep(T0 + MIN);
      await second.housekeep(T0 + 2 * MIN);
      expect(verified(hook).map((p) => [p['type'], p['leadId']])).toEqual([['lead.assignment', lead!.id]]);
      expect(slack.hits).toHaveLength(1);
      expect(
        (await other.notifications.deliveries(TENANT)).map((d) => [d.channel, d.state, d.attempts]),
      ).toEqual([
        ['ops:webhook', 'delivered', 1],
        ['sales:slack', 'delivered', 1],
      ]);
      await env.close();
    });

    it('a notification that cannot be recorded takes its decision with it; routed again, both are once', async () => {
      const env = await setup(sandbox(), { engine, rules: rules(hook.url) });
      const worker = env.worker('w1', { notifier: notifier(env.storage) });
      await refuseNotifications(env, true);
      const [lead] = env.demo.createContacts(1, 'import');
      await env.enqueueCreated([lead!]);
      await env.drain(worker);
      // The transaction rolled back: no decision, no owner written, the lead waits for a retry.
      expect(await env.storage.decisionsFor(TENANT, { leadId: lead!.id })).toEqual([]);
      expect(env.writes('owner.set', lead!.id)).toHaveLength(0);
      expect(await env.storage.inboxStats(TENANT)).toMatchObject({ pending: 1 });

      await refuseNotifications(env, false);
      env.clock.now = T0 + 60 * MIN;
      await env.drain(worker);
      await worker.housekeep(env.clock.now);
      expect(env.writes('owner.set', lead!.id)).toHaveLength(1);
      expect(verified(hook).map((p) => [p['type'], p['leadId']])).toEqual([['lead.assignment', lead!.id]]);
      await env.close();
    });
  });
});
