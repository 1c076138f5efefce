// Issue #4, item 1: four worker processes on PostgreSQL + Redis route 5,000 leads from the sandbox CRM.
// Each lead is routed exactly once, each pool's per-rep counts equal the weighted share within one,
// and the shared Redis budget keeps every process together inside the portal's 110 calls per 10 s.
import { totalCalls } from '../../connectors/sandbox/index.js';
import { ownerCounts, startCluster, type Cluster } from '../support/cluster.js';
import { describeNeeding } from '../support/services.js';

const LEADS = 5_000;
const WORKERS = 4;
const describeReal = describeNeeding(['postgres', 'redis']);

describeReal(`${WORKERS} worker processes over PostgreSQL and Redis`, () => {
  let cluster: Cluster | undefined;
  afterAll(() => cluster?.stop(), 90_000);

  it(
    `route ${LEADS.toLocaleString('en')} leads exactly once, by weighted share, inside the shared budget`,
    async () => {
      // One portal: under its own cap of 2 batches in flight only two workers could hold its work at once,
      // and under any cap below the lanes of all workers (4 each) the workers holding its batches take
      // the next one as they finish, so a worker could be kept out. This suite is about every process
      // taking part, so the cap leaves a batch for every lane.
      cluster = await startCluster({
        workers: WORKERS,
        webhooks: { duplicateRate: 0.05, outOfOrder: true },
        env: { WORKER_TENANT_BATCHES: String(WORKERS * 4) },
      });
      const c = cluster;
      const contacts = c.demo.createContacts(LEADS);
      const ids = contacts.map((x) => x.id);
      await c.until(`${LEADS} leads routed`, 15 * 60_000, () => c.settled(ids));
      await c.crm.webhooks.idle();
      await c.until('duplicate deliveries handled', 60_000, () => c.settled(ids));

      const effects = c.effects();
      const wrong = (kind: 'owners' | 'tasks' | 'notes', ok: (n: number) => boolean) =>
        ids.filter((id) => !ok(effects[kind].get(id)?.length ?? 0)).map((id) => `${kind}:${id}`);
      expect([
        ...wrong('owners', (n) => n === 1),
        ...wrong('tasks', (n) => n === 1),
        ...wrong('notes', (n) => n <= 1),
      ]).toEqual([]);
      expect((await c.storage.deadLetters(c.tenantId, 10)).map((d) => d.lastError)).toEqual([]);

      // Per pool, from who got each lead: enterprise weighted 3:2:1, SMB in strict rotation.
      const emailOf = new Map(c.demo.owners.map((o) => [o.id, o.email]));
      // Which pool each lead went to: the route its stored decision names.
      const routeOf = new Map(
        (await c.storage.recentDecisions(c.tenantId, 2 * LEADS)).map((d) => [d.leadId, d.route?.name]),
      );
      const large = (id: string) => routeOf.get(id) === 'Larger companies';
      const shares = (members: Record<string, number>, leadIds: string[]) => {
        const counts = ownerCounts(effects, leadIds);
        const total = leadIds.length;
        const weights = Object.values(members).reduce((a, b) => a + b, 0);
        return Object.entries(members).map(([email, weight]) => {
          const got = [...counts].filter(([id]) => emailOf.get(id) === email).reduce((a, [, n]) => a + n, 0);
          return { email, got, share: (total * weight) / weights };
        });
      };
      const enterprise = shares({ 'ada@acme.io': 3, 'bo@acme.io': 2, 'nina@acme.io': 1 }, ids.filter(large));
      const smb = shares(
        { 'omar@acme.io': 1, 'paula@acme.io': 1, 'sam@acme.io': 1, 'kenji@acme.io': 1 },
        ids.filter((id) => !large(id)),
      );
      for (const { email, got, share } of [...enterprise, ...smb]) {
        expect({ email, off: Math.abs(got - share) <= 1 }).toEqual({ email, off: true });
      }
      expect(enterprise.every((r) => r.got > 0) && smb.every((r) => r.got > 0)).toBe(true);

      // Every process took part, and together they paced the portal's calls on one schedule. What that
      // schedule guarantees is the order of the starts it hands out; when the CRM counts them is up to the
      // machine: on a loaded one (four workers, the web process, PostgreSQL, Redis and this process with
      // the sandbox on 2 cores) a call can reach the sandbox later than its slot, or the sandbox's own event
      // loop can stall and then count calls sent 200 ms apart as arriving together, and the CRM turns one
      // away (the retry sends it again, so nothing is lost: the checks above say so). CI drew from 1 to a
      // few more than 5 per-second refusals in ~100 searches, and single 10-second refusals in ~210 general
      // calls. Workers each pacing alone (a Redis key prefix apiece) offer the CRM four times its budget,
      // and were refused so often that 1,428 leads were dead-lettered after 8 attempts. So the bounds below
      // sit far from both: a fifth of the searches and 3% of the general calls.
      expect(c.workers.map((w) => w.decisions > 0)).toEqual(c.workers.map(() => true));
      const calls = c.crm.calls.forPortal(c.portalId);
      const {
        SECONDLY: searchRefusals = 0,
        TEN_SECONDLY_ROLLING: windowRefusals = 0,
        ...otherRefusals
      } = calls.rateLimited;
      const searches = calls.accepted['company.search'] ?? 0;
      const general = Object.values(calls.accepted).reduce((a, b) => a + b, 0) - searches;
      // Printed before the checks, so that a failed run shows its counts.
      console.log(
        JSON.stringify({
          test: 'many-workers',
          leads: LEADS,
          workers: WORKERS,
          decisionsPerWorker: c.workers.map((w) => w.decisions),
          apiCalls: totalCalls(calls.accepted),
          searches,
          rateLimited429: calls.rateLimited,
          enterprise,
          smb,
        }),
      );
      expect({
        otherRefusals,
        searchRefusalsAtMostAFifth: searchRefusals <= 0.2 * searches,
        windowRefusalsAtMost3Percent: windowRefusals <= 0.03 * general,
      }).toEqual({
        otherRefusals: {},
        searchRefusalsAtMostAFifth: true,
        windowRefusalsAtMost3Percent: true,
      });
    },
    20 * 60_000,
  );
});
