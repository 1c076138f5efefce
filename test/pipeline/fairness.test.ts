// Fair across tenants: one portal's import never makes another portal's new lead wait for it. Portal A's
// 400 contacts are enqueued first, then one contact of portal B; the worker runs its concurrent lanes
// against the real connector and the sandbox's rate limits. Judged by order, not by time: B's lead must
// be decided while most of A's burst is still waiting (with one FIFO across tenants it came last).
import { HubSpotConnector } from '../../connectors/hubspot/connector.js';
import { seedDemoPortal } from '../../connectors/sandbox/index.js';
import type { TenantRegistry } from '../../src/pipeline/runtime.js';
import { Worker } from '../../src/pipeline/worker.js';
import { loadRuleSet } from '../../src/rules/index.js';
import { created, ENGINES, logger, RULES, setup, TENANT, useSandbox } from './support.js';

const sandbox = useSandbox();
const B = 't2';
const A_LEADS = 400;
// Owners and tasks only: the burst is bound by batch calls, not by one enrollment call per lead.
const rules = loadRuleSet(RULES.replace('    sequence: Inbound nurture\n', ''), 'fairness.yaml');

for (const [engine, suite] of ENGINES) {
  suite(`fair claims on ${engine}`, () => {
    it("routes a second tenant's lead while the first tenant's burst is still mostly waiting", async () => {
      if (!rules.ok) throw new Error(JSON.stringify(rules.errors));
      const env = await setup(sandbox(), { engine });
      const ctx = env.ctx;
      await env.storage.createTenant(
        { id: B, provider: 'hubspot', externalId: 'y', name: 'B' },
        env.clock.now,
      );
      const portalB = ctx.crm.createPortal();
      const demoB = seedDemoPortal(portalB, 12, { companies: 20 });
      const connectors = new Map([
        [TENANT, env.connector],
        [
          B,
          new HubSpotConnector({
            portalId: String(portalB.portalId),
            accessToken: ctx.crm.issueToken(portalB.portalId).token,
            basePath: ctx.url,
            limiter: ctx.limiters.forPortal(String(portalB.portalId)),
          }),
        ],
      ]);
      const registry: TenantRegistry = {
        runtime: (tenantId) =>
          Promise.resolve({
            tenantId,
            connector: connectors.get(tenantId)!,
            ruleSet: rules.ruleSet,
            team: rules.ruleSet.team ?? { reps: {}, queues: {} },
          }),
      };

      const burst = env.demo.createContacts(A_LEADS, 'import');
      await env.enqueueCreated(burst);
      const [lead] = demoB.createContacts(1, 'generator');
      await env.storage.enqueue([{ tenantId: B, event: created(lead!.id, 'b-1') }], env.clock.now);

      // How many of A's leads were decided when B's was: the order of decisions is the evidence.
      let aDecided = 0;
      let aDecidedBeforeB: number | undefined;
      const worker = new Worker({
        storage: env.storage,
        registry,
        workerId: 'fair',
        clock: () => env.clock.now,
        logger,
        batchSize: 20,
        concurrency: 4,
        maxBatchesPerTenant: 2,
        onDecision: (info) => {
          if (info.tenantId === TENANT) aDecided += 1;
          else aDecidedBeforeB ??= aDecided;
        },
      });
      worker.start();
      try {
        for (let i = 0; i < 3_000; i++) {
          const stats = await env.storage.inboxStats();
          if (stats.done + stats.failed === A_LEADS + 1) break;
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        await worker.stop();
      }

      expect(await env.storage.inboxStats()).toEqual({ pending: 0, leased: 0, done: A_LEADS + 1, failed: 0 });
      // B was taken in turn, not after A's backlog: at most A's first batches (two lanes at A's cap,
      // another lane's batch on its way) came before it.
      expect(aDecidedBeforeB).toBeDefined();
      expect(aDecidedBeforeB!).toBeLessThanOrEqual(A_LEADS / 4);
      expect(
        ctx.crm.writes.list({ portalId: portalB.portalId, kind: 'owner.set', source: 'api' }),
      ).toHaveLength(1);
      for (const c of burst) expect(env.writes('owner.set', c.id)).toHaveLength(1);
      await env.close();
    });
  });
}
