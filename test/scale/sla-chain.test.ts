// Issue #10 on the multi-process deployment: SLA timers fired by 3 worker processes over PostgreSQL +
// Redis. Untouched leads each get exactly one reminder task, one re-route to a different rep of the pool
// and one escalation in the CRM's write log, with the steps taken by several processes; then a worker is
// killed with SIGKILL while it holds timers at their re-route, restarted, and the next leads end the same
// way: nothing but the database keeps the processes from acting twice.
import type { WriteRecord } from '../../connectors/sandbox/index.js';
import { startCluster, type AppProcess, type Cluster } from '../support/cluster.js';
import { describeNeeding } from '../support/services.js';

const LEADS = 30;
const WAVES = 3;
const WORKERS = 3;
const POOL = ['omar@acme.io', 'paula@acme.io', 'sam@acme.io', 'kenji@acme.io'];
const ESCALATION = 'ada@acme.io';
/** Index of the re-route among the timer's checkpoints (the reminder, at first_touch, is 0). */
const REROUTE_CHECKPOINT = 1;
const describeReal = describeNeeding(['postgres', 'redis']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Steps per process of each test, for the check that several processes took part. */
const stepsSeen: Record<string, number>[] = [];

interface Chain {
  reminders: number;
  /** Owner ids written, in order: the routing, the re-route, the escalation. */
  owners: string[];
}

/** Each lead's reminder tasks and owner writes, from the sandbox's write log. */
function chains(c: Cluster, ids: readonly string[]): Map<string, Chain> {
  const writes = c.crm.writes.list({ portalId: c.portalId, source: 'api' });
  const subject = new Map<string, string>();
  for (const w of writes)
    if (w.kind === 'task.created' && !subject.has(w.objectId))
      subject.set(w.objectId, w.details['hs_task_subject'] ?? '');
  const effects = c.effects();
  const reminder = (a: WriteRecord) => (subject.get(a.objectId) ?? '').startsWith('SLA reminder');
  return new Map(
    ids.map((id) => [
      id,
      {
        reminders: (effects.tasks.get(id) ?? []).filter(reminder).length,
        owners: (effects.owners.get(id) ?? []).map((w) => w.details['to'] ?? ''),
      },
    ]),
  );
}

/** "SLA step taken" lines each process logged for these leads, by process. */
async function stepsByProcess(c: Cluster, ids: readonly string[]): Promise<Record<string, number>> {
  const ours = new Set(ids);
  const out: Record<string, number> = {};
  for (const w of c.workers) {
    out[w.name] = (await w.logs())
      .split('\n')
      .filter((line) => line.includes('"SLA step taken"'))
      .map((line) => JSON.parse(line) as { leadId?: string })
      .filter((r) => r.leadId !== undefined && ours.has(r.leadId)).length;
  }
  return out;
}

describeReal(`SLA chains on ${WORKERS} worker processes over PostgreSQL and Redis`, () => {
  let cluster: Cluster | undefined;
  afterAll(() => cluster?.stop(), 90_000);

  const ownerIdOf = (email: string): string => cluster!.demo.owners.find((o) => o.email === email)!.id;

  /** What is wrong with each lead's chain (empty: reminded once, re-routed once elsewhere, escalated once). */
  const wrongChains = (ids: readonly string[]): string[] => {
    const pool = new Set(POOL.map(ownerIdOf));
    const escalation = ownerIdOf(ESCALATION);
    return [...chains(cluster!, ids)]
      .filter(
        ([, { reminders, owners }]) =>
          !(
            reminders === 1 &&
            owners.length === 3 &&
            pool.has(owners[0]!) &&
            pool.has(owners[1]!) &&
            owners[1] !== owners[0] &&
            owners[2] === escalation
          ),
      )
      .map(([id, chain]) => `${id}: ${JSON.stringify(chain)}`);
  };

  /**
   * Every lead's chain is in the CRM, or some lead already has a step twice (then the assertions that
   * follow name it instead of a timeout).
   */
  const written = (ids: readonly string[]): boolean => {
    const all = [...chains(cluster!, ids).values()];
    return (
      all.every((x) => x.reminders >= 1 && x.owners.length >= 3) ||
      all.some((x) => x.reminders > 1 || x.owners.length > 3)
    );
  };

  /** Every chain of these leads has ended in the CRM and in the database: no timer armed, inbox empty. */
  const ended = async (ids: readonly string[]): Promise<boolean> => {
    const c = cluster!;
    const all = [...chains(c, ids).values()];
    if (!all.every((x) => x.reminders >= 1 && x.owners.length >= 3)) return false;
    const timers = await c.storage.slaTimers.countByState(c.tenantId);
    const inbox = await c.storage.inboxStats(c.tenantId);
    return (timers['armed'] ?? 0) === 0 && inbox.pending === 0 && inbox.leased === 0;
  };

  /** The SLA steps recorded per lead: one remind, reroute and escalate each, all done. */
  const wrongSteps = async (ids: readonly string[]): Promise<string[]> => {
    const c = cluster!;
    const out: string[] = [];
    for (const id of ids) {
      const steps = (await c.storage.slaTimers.stepsFor(c.tenantId, id))
        .filter((s) => s.kind === 'remind' || s.kind === 'reroute' || s.kind === 'escalate')
        .map((s) => `${s.kind}:${s.status}`);
      if (steps.join(' ') !== 'remind:done reroute:done escalate:done') out.push(`${id}: ${steps.join(' ')}`);
    }
    return out;
  };

  it(`${LEADS} untouched leads: one reminder, one re-route to another rep and one escalation each`, async () => {
    cluster = await startCluster({
      workers: WORKERS,
      rules: 'test/fixtures/scale/rules-with-sla.yaml',
      // Every CRM call takes a little while, as a real one does: a claim of timers stays leased long
      // enough for the next test to catch a worker holding one.
      sandbox: { faults: { latencyMs: 200 } },
      // "SLA step taken" is an info line; a dead worker's timers are taken over after 20 s (twice the
      // worker lease) instead of 2 min.
      env: { LOG_LEVEL: 'info', WORKER_LEASE_MS: '10000' },
    });
    const c = cluster;
    // In waves further apart than a worker waits to gather due timers (5 s), so that the steps are
    // claimed in several batches, each by whichever process looks first.
    const ids: string[] = [];
    for (let wave = 0; wave < WAVES; wave++) {
      if (wave > 0) await sleep(6_000);
      ids.push(...c.demo.createContacts(LEADS / WAVES).map((x) => x.id));
    }
    // Past the deadline, the assertion names each lead whose chain is short or doubled.
    await c.until(`${LEADS} SLA chains written`, 150_000, () => written(ids)).catch(() => undefined);
    expect(wrongChains(ids)).toEqual([]);
    await c.until(`${LEADS} SLA chains ended`, 60_000, () => ended(ids));

    expect(wrongChains(ids)).toEqual([]);
    expect(await wrongSteps(ids)).toEqual([]);
    const steps = await stepsByProcess(c, ids);
    expect(Object.values(steps).reduce((a, b) => a + b, 0)).toBe(3 * LEADS);
    // Which process claims a wave's due timers is a race the first poller after the gathering wins; one
    // process may win all nine here (seen once in CI). That several take part is checked over both tests.
    stepsSeen.push(steps);
    console.log(JSON.stringify({ test: 'sla-chain', leads: LEADS, stepsByProcess: steps }));
  }, 240_000);

  it(`SIGKILL on a worker holding timers at their re-route: ${LEADS} more chains, each step once`, async () => {
    const c = cluster!;
    const ids = c.demo.createContacts(LEADS).map((x) => x.id);
    await c.until(`${LEADS} reminders`, 90_000, () =>
      [...chains(c, ids).values()].every((x) => x.reminders >= 1),
    );

    // The first worker seen holding timers at their re-route (a holder is `worker-<pid>-…/sla/<n>`).
    let victim: { process: AppProcess; timers: number; reroutedBefore: number } | undefined;
    const deadline = Date.now() + 60_000;
    while (victim === undefined) {
      if (Date.now() > deadline) throw new Error('no worker was ever seen holding a re-route');
      const held = await c.storage.db.all<{ lease_owner: string }>(
        `SELECT lease_owner FROM sla_timers
           WHERE tenant_id = ? AND state = 'armed' AND checkpoint = ? AND lease_owner IS NOT NULL`,
        [c.tenantId, REROUTE_CHECKPOINT],
      );
      const holder = held[0]?.lease_owner;
      const worker = c.workers.find((w) => w.pid !== undefined && holder?.startsWith(`worker-${w.pid}-`));
      if (worker !== undefined)
        victim = {
          process: worker,
          timers: held.filter((r) => r.lease_owner === holder).length,
          reroutedBefore: [...chains(c, ids).values()].filter((x) => x.owners.length >= 2).length,
        };
      else await sleep(20);
    }
    await victim.process.kill('SIGKILL');
    await victim.process.restart();

    // Past the deadline, the assertion names each lead whose chain is short or doubled.
    await c
      .until(`${LEADS} SLA chains written after the kill`, 150_000, () => written(ids))
      .catch(() => undefined);
    expect(wrongChains(ids)).toEqual([]);
    await c.until(`${LEADS} SLA chains ended after the kill`, 60_000, () => ended(ids));
    expect(wrongChains(ids)).toEqual([]);
    expect(await wrongSteps(ids)).toEqual([]);
    // Killed before the re-routes were all written.
    expect(victim.reroutedBefore).toBeLessThan(LEADS);
    const steps = await stepsByProcess(c, ids);
    stepsSeen.push(steps);
    const tookPart = new Set(stepsSeen.flatMap((s) => Object.keys(s).filter((name) => (s[name] ?? 0) > 0)));
    expect(tookPart.size).toBeGreaterThanOrEqual(2);
    console.log(
      JSON.stringify({
        test: 'sla-chain-kill',
        leads: LEADS,
        killed: victim.process.name,
        timersHeldAtKill: victim.timers,
        reroutedBeforeKill: victim.reroutedBefore,
        stepsByProcess: steps,
      }),
    );
  }, 240_000);
});
