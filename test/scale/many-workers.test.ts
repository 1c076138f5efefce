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

      // Every process took part, and together they paced the portal's calls on one schedule: the CRM
      // never turned a call away for the 10-second budget. Search's per-second window leaves a call 200 ms
      // (the schedule's jitter) to travel from its slot to the CRM; on a loaded machine one can arrive
      // later and be turned away, and the retry sends it again. So a few per-second refusals are allowed
      // (CI drew 1 and 2 in 100 searches). The 10-second schedule keeps one call of headroom (109 starts
      // in any window of 110), so a call held up as long can land one over: CI drew one such refusal,
      // retried and written once; up to 1% of the general calls are allowed (2 of this run's ~210).
      // Workers each pacing alone (a Redis key prefix apiece) were refused so often that 1,428 leads were
      // dead-lettered after 8 attempts.
      expect(c.workers.map((w) => w.decisions > 0)).toEqual(c.workers.map(() => true));
      const calls = c.crm.calls.forPortal(c.portalId);
      const {
        SECONDLY: searchRefusals = 0,
        TEN_SECONDLY_ROLLING: windowRefusals = 0,
        ...otherRefusals
      } = calls.rateLimited;
      const searches = calls.accepted['company.search'] ?? 0;
      const general = Object.values(calls.accepted).reduce((a, b) => a + b, 0) - searches;
      expect({
        otherRefusals,
        searchRefusalsAtMost5Percent: searchRefusals <= 0.05 * searches,
        windowRefusalsAtMost1Percent: windowRefusals <= 0.01 * general,
      }).toEqual({
        otherRefusals: {},
        searchRefusalsAtMost5Percent: true,
        windowRefusalsAtMost1Percent: true,
      });
      expect(wrong('notes', (n) => n <= 1)).toEqual([]);
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
    },
    20 * 60_000,
  );
});
