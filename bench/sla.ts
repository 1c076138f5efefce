// `npm run bench:sla`: 100,000 open SLA timers on one portal of the sandbox CRM (real connector, real
// HTTP, SQLite file), due evenly over a window, checked by the SLA processor in real time. Prints one
// JSON line: timers checked per second, CRM calls per timer check (from the sandbox's own call counts),
// and breach-to-action latency (a step's time minus its due time). Progress, and the run's SLA report
// as CSV, go to stderr.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HubSpotConnector } from '../connectors/hubspot/connector.js';
import { HUBSPOT_BUCKETS } from '../connectors/hubspot/profile.js';
import { LimiterFactory } from '../connectors/shared/limiter.js';
import { createHubSpotSandbox, seedDemoPortal } from '../connectors/sandbox/index.js';
import { totalCalls } from '../connectors/sandbox-kit/call-stats.js';
import { createLogger } from '../src/log.js';
import { SlaProcessor } from '../src/pipeline/sla/processor.js';
import { writeCsv } from '../src/reports/csv.js';
import { runReport } from '../src/reports/run.js';
import type { TenantRegistry } from '../src/pipeline/runtime.js';
import { loadRuleSet } from '../src/rules/index.js';
import { openStorage } from '../src/storage/index.js';
import { progress } from './progress.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i] ?? '', process.argv[i + 1] ?? '');
const TIMERS = Number(args.get('--timers') ?? 100_000);
const WINDOW_S = Number(args.get('--window') ?? 240);
const TOUCHED = 0.1;
/** From the contacts being in the CRM to the first timer falling due: time to write the timers. */
const LEAD_IN_MS = 30_000;
const TENANT = 'bench';
const logger = createLogger({ silent: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-bench-sla-'));
  const crm = createHubSpotSandbox({ seed: 7 });
  const { url } = await crm.start();
  const limiters = new LimiterFactory({ provider: 'hubspot-bench-sla', buckets: HUBSPOT_BUCKETS });
  const storage = await openStorage({ file: join(dir, 'sla.sqlite') });
  try {
    const portal = crm.createPortal();
    const demo = seedDemoPortal(portal, 3, { companies: 1 });
    const reps = demo.owners.filter((o) => !o.archived).slice(0, 4);
    const rules = loadRuleSet(
      `name: SLA bench
pools:
  p: { members: [${reps.map((r) => r.email).join(', ')}] }
routes:
  - name: Inbound
    assign: { pool: p }
    sla: { first_touch: 10m, steps: [{ after: 10m, remind: notify }] }
fallback: none
team:
  reps:
${reps.map((r) => `    ${r.email}: { timezone: UTC }`).join('\n')}
`,
      'bench-sla.yaml',
    );
    if (!rules.ok) throw new Error(JSON.stringify(rules.errors));
    const connector = new HubSpotConnector({
      portalId: String(portal.portalId),
      accessToken: crm.issueToken(portal.portalId).token,
      basePath: url,
      limiter: limiters.forPortal(String(portal.portalId)),
    });
    const registry: TenantRegistry = {
      runtime: (tenantId) =>
        Promise.resolve({ tenantId, connector, ruleSet: rules.ruleSet, team: rules.ruleSet.team! }),
    };
    await storage.createTenant(
      { id: TENANT, provider: 'hubspot', externalId: String(portal.portalId), name: 'Bench' },
      0,
    );

    // Setup, outside the measured window: contacts created in the sandbox's store directly (no API), owned by the
    // reps; then the window starts LEAD_IN_MS from now, and a tenth are touched after their owner write.
    const setupStarted = performance.now();
    const setup = progress('contacts and timers', TIMERS);
    const ids: string[] = [];
    for (let i = 0; i < TIMERS; i++) {
      const rep = reps[i % reps.length]!;
      const props: Record<string, string> = { email: `lead${i}@bench.example`, hubspot_owner_id: rep.id };
      ids.push(portal.createObject('contacts', props, 'import').id);
      if (i % 5000 === 0) setup.tick(i);
    }
    const t0 = Date.now() + LEAD_IN_MS;
    const dueOf = (i: number): number => t0 + Math.floor((i * WINDOW_S * 1000) / TIMERS);
    for (let i = 0; i < TIMERS; i += Math.round(1 / TOUCHED))
      portal.updateObject(
        'contacts',
        ids[i]!,
        { notes_last_contacted: new Date(dueOf(i) - 600_000 + 60_000).toISOString() },
        'admin',
      );
    // Decisions and timers, as the worker would have left them once the owners were written.
    const db = storage.db;
    await db.transaction(async (tx) => {
      for (let from = 0; from < TIMERS; from += 200) {
        const part = ids.slice(from, from + 200);
        const rows = part.map((id, k) => {
          const i = from + k;
          const started = dueOf(i) - 600_000;
          const sla = {
            firstTouchBy: dueOf(i),
            onBreach: { kind: 'remind' },
            clock: 'wall',
            steps: [{ afterMs: 600_000, kind: 'remind', via: 'notify' }],
            firstTouchMs: 600_000,
          };
          return { id, i, started, sla, rep: reps[i % reps.length]!.email };
        });
        await tx.run(
          `INSERT INTO decisions (tenant_id, decision_key, lead_id, decided_at, route_name, destination, owner,
             ruleset_name, ruleset_version, actions, sla, trace, summary)
           VALUES ${rows.map(() => "(?, ?, ?, ?, 'Inbound', ?, ?, 'SLA bench', 'v1', '[]', ?, ?, ?)").join(', ')}`,
          rows.flatMap((r) => [
            TENANT,
            `${r.id}:route`,
            r.id,
            r.started,
            JSON.stringify({ kind: 'rep', email: r.rep }),
            r.rep,
            JSON.stringify(r.sla),
            JSON.stringify({ routes: [], assignments: [], steps: [] }),
            `lead ${r.id} → ${r.rep}`,
          ]),
        );
        await tx.run(
          `INSERT INTO sla_timers (tenant_id, lead_id, decision_key, owner, due_at, on_breach, state, created_at,
             updated_at, started_at, expected_owner)
           VALUES ${rows.map(() => '(?, ?, ?, ?, ?, \'{"kind":"remind"}\', \'armed\', ?, ?, ?, ?)').join(', ')}`,
          rows.flatMap((r) => [
            TENANT,
            r.id,
            `${r.id}:route`,
            r.rep,
            dueOf(r.i),
            r.started,
            r.started,
            r.started,
            r.rep,
          ]),
        );
        setup.tick(from);
      }
    });
    setup.done();
    const setupS = (performance.now() - setupStarted) / 1000;
    if (Date.now() >= t0)
      throw new Error(
        `setup overran the ${LEAD_IN_MS / 1000} s lead-in: the first timers were due before the check began`,
      );

    const directory = await connector.directory();
    let checked = 0;
    const processor = new SlaProcessor({
      storage,
      timers: storage.slaTimers,
      registry,
      // The worker keeps a tenant's directory cached; so does the bench (read once, before timing).
      directory: () => Promise.resolve(directory),
      logger,
      workerId: 'bench',
      batchSize: 500,
      onChecked: (_t, n) => {
        checked += n;
      },
    });
    const callsBefore = totalCalls(crm.calls.of(portal.portalId).accepted);
    await sleep(Math.max(0, t0 - Date.now()));
    const started = performance.now();
    const run = progress('timers', TIMERS);
    let settled = 0;
    while (settled < TIMERS) {
      const n = await processor.runOnce(Date.now());
      if (n === 0) {
        const open = await db.get<{ n: number }>(
          "SELECT COUNT(*) AS n FROM sla_timers WHERE state = 'armed'",
        );
        settled = TIMERS - Number(open?.n ?? 0);
        run.tick(settled);
        if (settled < TIMERS) await sleep(200);
      }
    }
    run.done();
    const elapsedS = (performance.now() - started) / 1000;
    const calls = totalCalls(crm.calls.of(portal.portalId).accepted) - callsBefore;
    const lat = (
      await db.all<{ ms: number }>(
        `SELECT s.at - t.first_due AS ms FROM sla_steps s JOIN (
           SELECT id, started_at + 600000 AS first_due FROM sla_timers) t ON t.id = s.timer_id
         WHERE s.kind IN ('remind', 'met')`,
      )
    )
      .map((r) => Math.max(0, Number(r.ms)))
      .sort((a, b) => a - b);
    const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
    const outcomes = await db.all<{ state: string; n: number }>(
      'SELECT state, COUNT(*) AS n FROM sla_timers GROUP BY state',
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'sla',
        timers: TIMERS,
        windowS: WINDOW_S,
        setupS: Math.round(setupS * 10) / 10,
        elapsedS: Math.round(elapsedS * 10) / 10,
        timerChecks: checked,
        timersCheckedPerSec: Math.round(checked / elapsedS),
        crmCalls: calls,
        crmCallsPerTimerCheck: Math.round((calls / checked) * 10_000) / 10_000,
        breachToActionMs: { p50: pct(0.5), p95: pct(0.95), max: lat.at(-1) ?? 0 },
        outcomes: Object.fromEntries(outcomes.map((o) => [o.state, Number(o.n)])),
        deferred: Number(
          (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM sla_timers WHERE last_error IS NOT NULL'))
            ?.n ?? 0,
        ),
        rateLimited: crm.calls.of(portal.portalId).rateLimited,
      })}\n`,
    );
    // What an operator sees of the run: `lead-router report sla --by rule` over the window, on stderr.
    process.stderr.write(`\n$ lead-router report sla --by rule (this run)\n`);
    writeCsv(
      await runReport(storage, TENANT, { kind: 'sla', since: t0 - 600_000, until: Date.now(), by: 'rule' }),
      (chunk) => process.stderr.write(chunk),
    );
  } finally {
    await storage.close();
    await crm.stop();
    await limiters.disconnectAll();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
