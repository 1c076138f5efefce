// Issue #4, item 6: every process stopped with SIGTERM in the middle of a burst finishes what it holds
// (no lead left leased), exits cleanly, and — started again — resumes: every lead is routed, once.
import { startCluster, type Cluster } from '../support/cluster.js';
import { describeNeeding } from '../support/services.js';

const LEADS = 2_000;
const describeReal = describeNeeding(['postgres', 'redis']);

describeReal('SIGTERM drains and a restart resumes', () => {
  let cluster: Cluster | undefined;
  afterAll(() => cluster?.stop(), 90_000);

  it(
    `stops web and workers mid-burst of ${LEADS.toLocaleString('en')} leads, loses nothing, then resumes`,
    async () => {
      cluster = await startCluster({
        workers: 2,
        requestsPer10s: 300,
        // HubSpot retries a refused delivery after a minute, then longer; a twentieth of that here.
        sandbox: { webhookTiming: { retryScale: 0.05 } },
      });
      const c = cluster;
      const ids = c.demo.createContacts(LEADS).map((x) => x.id);
      const owned = () => {
        // Once per look: the effects are read from the whole write log.
        const { owners } = c.effects();
        return ids.filter((id) => owners.has(id)).length;
      };
      await c.until('the burst to be under way', 5 * 60_000, () => owned() >= LEADS / 5);

      const exits = await Promise.all([c.web, ...c.workers].map((p) => p.kill('SIGTERM')));
      expect(exits).toEqual(exits.map(() => ({ code: 0, signal: null })));
      const stopped = await c.storage.inboxStats(c.tenantId);
      // Drained: nothing is left leased by a stopped worker (it would wait out its lease otherwise).
      expect(stopped.leased).toBe(0);
      const routedAtStop = owned();
      expect(routedAtStop).toBeLessThan(LEADS);

      // HubSpot keeps retrying the deliveries the stopped intake refused; the restarted app takes them.
      await c.web.restart();
      await Promise.all(c.workers.map((w) => w.restart()));
      await c.until(`${LEADS} leads routed after the restart`, 10 * 60_000, () => c.settled(ids));
      await c.crm.webhooks.idle();
      await c.until('late deliveries handled', 60_000, () => c.settled(ids));

      const effects = c.effects();
      const wrong = (kind: 'owners' | 'tasks' | 'notes', ok: (n: number) => boolean) =>
        ids.filter((id) => !ok(effects[kind].get(id)?.length ?? 0)).map((id) => `${kind}:${id}`);
      expect([
        ...wrong('owners', (n) => n === 1),
        ...wrong('tasks', (n) => n === 1),
        ...wrong('notes', (n) => n <= 1),
      ]).toEqual([]);
      expect((await c.storage.deadLetters(c.tenantId, 10)).map((d) => d.lastError)).toEqual([]);
      console.log(JSON.stringify({ test: 'sigterm-restart', leads: LEADS, routedAtStop, stopped }));
    },
    20 * 60_000,
  );
});
