// `npm run bench:e2e`: the whole app over the sandbox CRM on 127.0.0.1, measured from the sandbox's side
// (`--crm salesforce`: over the Salesforce sandbox, bench/e2e-salesforce.ts).
// Burst: N contacts at once; how close the app gets to the time the portal's rate budget allows.
// Steady: a fresh app, 50 ms API latency, 20 leads/s; owner-write latency per contact (p50, p95).
// Prints one JSON line on stdout; progress goes to stderr.
import { rm } from 'node:fs/promises';
import { totalCalls } from '../connectors/sandbox/index.js';
import type { RunningApp } from '../src/app/start.js';
import { callStats, POLL_MS, start, until, witness } from './app.js';
import { salesforceE2e } from './e2e-salesforce.js';
import { lowerBoundSec, requiredCalls, round } from './lower-bound.js';
import { progress } from './progress.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i] ?? '', process.argv[i + 1] ?? '');
const LEADS = Number(args.get('--leads') ?? 10_000);
const STEADY_RATE = Number(args.get('--rate') ?? 20);
const STEADY_SECONDS = Number(args.get('--steady-seconds') ?? 30);
const STEADY_LATENCY_MS = 50;
if (!Number.isInteger(LEADS) || LEADS <= 0)
  throw new Error(`--leads must be a positive integer, got ${LEADS}`);

// HubSpot's budget per portal (hubspot.md §7.1), as the sandbox enforces it.
const BUDGET_PER_10S = 110;
const GENERAL_PER_SEC = BUDGET_PER_10S / 10;
const SEARCH_PER_SEC = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Creating 10,000 demo contacts blocks this thread for seconds. A keep-alive connection left idle before
 * that (from the OAuth install) expires on both ends during the freeze, and the first webhook delivery
 * after it reuses the dead socket (ECONNRESET), which the sandbox retries only 60 s later, as HubSpot
 * does. Waiting out the keep-alive timeouts of Node's HTTP server (5 s) and fetch (4 s) first keeps that
 * artefact of the freeze out of the figures.
 */
const IDLE_CONNECTIONS_CLOSED_MS = 5_500;

async function settled(app: RunningApp, tenantId: string, n: number): Promise<boolean> {
  const s = await app.storage.inboxStats(tenantId);
  return s.pending === 0 && s.leased === 0 && s.done + s.failed >= n;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

async function burst(n: number) {
  const { app, tenantId, dir } = await start({});
  try {
    const sandbox = app.sandbox!;
    await sleep(IDLE_CONNECTIONS_CLOSED_MS);
    const bar = progress(`burst ${n}`, n);
    const contacts = sandbox.demo.createContacts(n, 'generator');
    const ids = contacts.map((c) => c.id);
    // The sandbox creates the contacts synchronously on this thread (webhooks flush only afterwards), so
    // the clock starts when the last one exists: generating 10,000 demo contacts is not the app's time.
    const firstCreatedAt = contacts.reduce((m, c) => Math.min(m, c.createdAt), Infinity);
    const createdAt = contacts.reduce((m, c) => Math.max(m, c.createdAt), -Infinity);
    const wallStart = performance.now();
    // Generous: ten times the budget's lower bound for the common case, plus a minute.
    const timeoutMs = 60_000 + (n / GENERAL_PER_SEC) * 1000 * 3;
    await until(`${n} contacts to be routed`, timeoutMs, async () => {
      const w = witness(app);
      bar.tick(ids.filter((id) => w.owners.has(id)).length);
      return ids.every((id) => w.owners.has(id) && w.tasks.has(id)) && (await settled(app, tenantId, n));
    });
    bar.done();
    const wallSec = (performance.now() - wallStart) / 1000;
    await sandbox.crm.webhooks.idle();

    const w = witness(app);
    const finishedAt = [w.owners, w.tasks, w.enrollments]
      .flatMap((m) => ids.flatMap((id) => (m.get(id) ?? []).map((r) => r.at)))
      .reduce((a, b) => Math.max(a, b), -Infinity);
    const elapsedSec = (finishedAt - createdAt) / 1000;
    const lost = ids.filter((id) => !w.owners.has(id)).length;
    const duplicates = ids.filter(
      (id) =>
        (w.owners.get(id)?.length ?? 0) > 1 ||
        (w.tasks.get(id)?.length ?? 0) > 1 ||
        (w.enrollments.get(id)?.length ?? 0) > 1,
    ).length;
    const enrolled = ids.filter((id) => w.enrollments.has(id)).length;
    // Where the time went: contacts given an owner in each 10 s window after creation.
    const routedPer10s: number[] = [];
    for (const id of ids) {
      const at = w.owners.get(id)?.[0]?.at;
      if (at === undefined) continue;
      const slot = Math.floor((at - createdAt) / 10_000);
      while (routedPer10s.length <= slot) routedPer10s.push(0);
      routedPer10s[slot] = (routedPer10s[slot] ?? 0) + 1;
    }
    const inbox = await app.storage.inboxStats(tenantId);
    const dead = await app.storage.deadLetters(tenantId, n);

    const stats = callStats(app);
    const searches = stats.accepted['company.search'] ?? 0;
    // The minimum the rules require, at ideal batch sizes: general calls at 11/s, searches at 5/s apart.
    const required = requiredCalls(contacts, w, searches > 0);
    const lowerBound = lowerBoundSec(required, BUDGET_PER_10S);
    const general = totalCalls(stats.accepted) - searches;
    const actualBoundSec = Math.max(general / GENERAL_PER_SEC, searches / SEARCH_PER_SEC);
    const ownerTask = (stats.accepted['owner.batch'] ?? 0) + (stats.accepted['task.batch'] ?? 0);
    return {
      leads: n,
      elapsedSec: round(elapsedSec, 2),
      wallSec: round(wallSec, 2),
      creationSec: round((createdAt - firstCreatedAt) / 1000, 2),
      lowerBoundSec: round(lowerBound, 2),
      ratio: round(elapsedSec / lowerBound, 2),
      /** The bound for the calls the app actually made (shows batching waste vs. pacing waste). */
      boundForActualCallsSec: round(actualBoundSec, 2),
      apiCallsPerLead: round(totalCalls(stats.accepted) / n, 4),
      ownerTaskCallsPerLead: round(ownerTask / n, 4),
      lost,
      duplicates,
      enrolled,
      deadLetters: dead.length,
      /** Inbox rows per contact: one, however many creation events HubSpot sends for it. */
      inboxItemsPerLead: round((inbox.done + inbox.failed) / n, 2),
      leadsPerOwnerBatch: round(n / Math.max(1, stats.accepted['owner.batch'] ?? 0), 1),
      routedPer10s,
      required,
      calls: stats.accepted,
      rejected429: stats.rateLimited,
    };
  } finally {
    await app.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function steady(n: number) {
  const { app, tenantId, dir } = await start({ faults: { latencyMs: STEADY_LATENCY_MS } });
  try {
    const sandbox = app.sandbox!;
    const bar = progress(`steady ${n} @ ${STEADY_RATE}/s`, n);
    const created = new Map<string, number>();
    const t0 = performance.now();
    let looked = t0;
    // Catch up to the schedule on each tick, so timer drift does not lower the rate.
    while (created.size < n) {
      const due = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * STEADY_RATE) + 1);
      if (due > created.size)
        for (const c of sandbox.demo.createContacts(due - created.size, 'generator'))
          created.set(c.id, c.createdAt);
      if (performance.now() - looked >= POLL_MS) {
        looked = performance.now();
        const owners = witness(app).owners;
        bar.tick([...created.keys()].filter((id) => owners.has(id)).length);
      }
      await sleep(Math.max(1, Math.round(1000 / STEADY_RATE / 2)));
    }
    const ids = [...created.keys()];
    await until(`${n} steady-rate contacts to be routed`, 120_000, async () => {
      const w = witness(app);
      bar.tick(ids.filter((id) => w.owners.has(id)).length);
      return ids.every((id) => w.owners.has(id)) && (await settled(app, tenantId, n));
    });
    bar.done();
    const w = witness(app);
    const latencies = ids
      .map((id) => (w.owners.get(id)?.[0]?.at ?? NaN) - (created.get(id) ?? NaN))
      .filter((x) => Number.isFinite(x))
      .sort((a, b) => a - b);
    const stats = callStats(app);
    return {
      leads: n,
      ratePerSec: STEADY_RATE,
      apiLatencyMs: STEADY_LATENCY_MS,
      p50LatencyMs: Math.round(percentile(latencies, 50)),
      p95LatencyMs: Math.round(percentile(latencies, 95)),
      maxLatencyMs: Math.round(latencies[latencies.length - 1] ?? NaN),
      apiCallsPerLead: round(totalCalls(stats.accepted) / n, 4),
      calls: stats.accepted,
      rejected429: stats.rateLimited,
    };
  } finally {
    await app.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const CRM = args.get('--crm') ?? 'hubspot';
if (CRM !== 'hubspot' && CRM !== 'salesforce')
  throw new Error(`--crm must be hubspot or salesforce, got ${CRM}`);
if (CRM === 'salesforce') {
  process.stdout.write(`${JSON.stringify(await salesforceE2e(LEADS, STEADY_RATE, STEADY_SECONDS))}\n`);
  process.exit(0);
}
const b = await burst(LEADS);
const s = await steady(Math.max(1, Math.min(LEADS, STEADY_RATE * STEADY_SECONDS)));
const targets = {
  ratio: b.ratio <= 1.3,
  p95: s.p95LatencyMs <= 2000,
  ownerTaskCallsPerLead: b.ownerTaskCallsPerLead <= 0.05,
  lostAndDuplicates: b.lost === 0 && b.duplicates === 0,
};
process.stdout.write(
  `${JSON.stringify({
    leads: b.leads,
    elapsedSec: b.elapsedSec,
    lowerBoundSec: b.lowerBoundSec,
    ratio: b.ratio,
    apiCallsPerLead: b.apiCallsPerLead,
    ownerTaskCallsPerLead: b.ownerTaskCallsPerLead,
    p50LatencyMs: s.p50LatencyMs,
    p95LatencyMs: s.p95LatencyMs,
    lost: b.lost,
    duplicates: b.duplicates,
    targets,
    burst: b,
    steady: s,
  })}\n`,
);
