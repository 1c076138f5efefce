// `npm run bench:e2e -- --crm salesforce`: the whole app over the Salesforce sandbox on 127.0.0.1
// (CometD change events in, jsforce calls out), measured from the sandbox's side, as bench:e2e measures
// HubSpot. Burst: N leads at once; how close the app gets to the least time the required calls take.
// Steady: a fresh app, 20 leads/s; owner-write latency per lead (p50, p95).
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { totalCalls } from '../connectors/sandbox-kit/call-stats.js';
import { SALESFORCE_PROFILE } from '../connectors/salesforce/profile.js';
import { targetEffects, type SRecord, type TargetEffects } from '../connectors/sandbox-salesforce/index.js';
import { loadConfig } from '../src/app/config.js';
import { startApp, type RunningApp } from '../src/app/start.js';
import { isFreeMailDomain, registrableDomain } from '../src/core/normalize.js';
import { createLogger } from '../src/log.js';
import { POLL_MS, until } from './app.js';
import { round } from './lower-bound.js';
import { progress } from './progress.js';

/** Per-call latency the sandbox adds: a Salesforce REST round trip is rarely faster. */
const API_LATENCY_MS = 50;
const BATCH = SALESFORCE_PROFILE.batchSizes.owners;
const DOMAINS_PER_QUERY = SALESFORCE_PROFILE.batchSizes.accountDomains;
const GENERAL = SALESFORCE_PROFILE.buckets.general;
if (GENERAL === undefined) throw new Error('the Salesforce profile has no general bucket');
const { reservoir, intervalMs } = GENERAL;
const maxConcurrent = GENERAL.maxConcurrent ?? 1;
const CALLS_PER_SEC = (reservoir * 1000) / intervalMs;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Started {
  app: RunningApp;
  tenantId: string;
  orgId: string;
  dir: string;
}

/** The app with CRM=salesforce, installed through OAuth, once its Lead stream has subscribed. */
async function start(): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-bench-sf-'));
  let subscribed = 0;
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (chunk.toString('utf8').includes('"subscribed to change events"')) subscribed++;
      done();
    },
  });
  const config = loadConfig({
    CRM: 'salesforce',
    PORT: '0',
    SANDBOX_PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    DEMO_RATE: '0',
  });
  const app = await startApp(config, {
    logger: createLogger({ level: 'info', stream }),
    generate: false,
    salesforceSandbox: { faults: { latencyMs: API_LATENCY_MS } },
  });
  const sf = app.salesforceSandbox!;
  const tenant = await app.storage.findTenant('salesforce', sf.orgId);
  if (tenant === null) throw new Error('the OAuth install created no tenant');
  // Leads created before the subscription would be found only by the catch-up poll (minutes later).
  await until('the change-event streams to subscribe', 60_000, () => Promise.resolve(subscribed >= 2));
  return { app, tenantId: tenant.id, orgId: sf.orgId, dir };
}

const witness = (s: Started): TargetEffects => targetEffects(s.app.salesforceSandbox!.crm.writes, s.orgId);
const calls = (s: Started) => s.app.salesforceSandbox!.crm.calls.of(s.orgId);

async function settled(s: Started, n: number): Promise<boolean> {
  const x = await s.app.storage.inboxStats(s.tenantId);
  return x.pending === 0 && x.leased === 0 && x.done + x.failed >= n;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

/**
 * The calls the rules require at 200 records per call: a read, an owner update and a task create per
 * 200 leads, notes and enrollments per 200 of the leads that got them, and the Account queries for the
 * leads' company domains (100 per query).
 */
function requiredCalls(leads: readonly SRecord[], w: TargetEffects) {
  const ids = leads.map((l) => String(l['Id']));
  const domains = new Set<string>();
  for (const l of leads)
    for (const v of [l['Email'], l['Website']]) {
      const d = typeof v === 'string' && v !== '' ? registrableDomain(v) : undefined;
      if (d !== undefined && !isFreeMailDomain(d)) domains.add(d);
    }
  const per = (m: Map<string, unknown>) => Math.ceil(ids.filter((id) => m.has(id)).length / BATCH);
  return {
    reads: Math.ceil(ids.length / BATCH),
    ownerBatches: Math.ceil(ids.length / BATCH),
    taskBatches: per(w.tasks),
    noteBatches: per(w.notes),
    enrollmentBatches: per(w.cadences),
    accountQueries: Math.ceil(domains.size / DOMAINS_PER_QUERY),
  };
}

/**
 * The least time those calls take: the org's call budget the connector holds to (100 a second, 10 at
 * a time) at the sandbox's latency, and never less than one read → write round trip. Salesforce has no
 * per-second window of its own; its daily allocation is far from spent by these calls.
 */
function lowerBoundSec(required: ReturnType<typeof requiredCalls>): number {
  const n = Object.values(required).reduce((a, b) => a + b, 0);
  const latencySec = API_LATENCY_MS / 1000;
  return Math.max(n / CALLS_PER_SEC, (n * latencySec) / maxConcurrent, 3 * latencySec);
}

async function burst(n: number) {
  const s = await start();
  try {
    const sf = s.app.salesforceSandbox!;
    const bar = progress(`burst ${n}`, n);
    const t0 = Date.now();
    const leads = sf.demo.createLeads(n, 'generator');
    // Creating the leads runs on this thread before any event goes out: not the app's time.
    const createdAt = Date.now();
    const ids = leads.map((l) => String(l['Id']));
    const wallStart = performance.now();
    await until(`${n} leads to be routed`, 60_000 + n * 30, async () => {
      const w = witness(s);
      bar.tick(ids.filter((id) => w.owners.has(id)).length);
      return ids.every((id) => w.owners.has(id) && w.tasks.has(id)) && (await settled(s, n));
    });
    bar.done();
    const wallSec = (performance.now() - wallStart) / 1000;
    const w = witness(s);
    const finishedAt = [w.owners, w.tasks, w.cadences, w.notes]
      .flatMap((m) => ids.flatMap((id) => (m.get(id) ?? []).map((r) => r.at)))
      .reduce((a, b) => Math.max(a, b), -Infinity);
    const elapsedSec = (finishedAt - createdAt) / 1000;
    const lost = ids.filter((id) => !w.owners.has(id)).length;
    const duplicates = ids.filter((id) =>
      [w.owners, w.tasks, w.cadences, w.notes].some((m) => (m.get(id)?.length ?? 0) > 1),
    ).length;
    const stats = calls(s);
    const required = requiredCalls(leads, w);
    const lowerBound = lowerBoundSec(required);
    const ownerTask =
      (stats.accepted['collections.update'] ?? 0) + (stats.accepted['collections.create'] ?? 0);
    const dead = await s.app.storage.deadLetters(s.tenantId, n);
    return {
      leads: n,
      elapsedSec: round(elapsedSec, 2),
      wallSec: round(wallSec, 2),
      creationSec: round((createdAt - t0) / 1000, 2),
      lowerBoundSec: round(lowerBound, 2),
      ratio: round(elapsedSec / lowerBound, 2),
      apiCallsPerLead: round(totalCalls(stats.accepted) / n, 4),
      /** Collections updates (owners) and creates (tasks, notes) per lead. */
      ownerTaskCallsPerLead: round(ownerTask / n, 4),
      lost,
      duplicates,
      enrolled: ids.filter((id) => w.cadences.has(id)).length,
      deadLetters: dead.length,
      required,
      calls: stats.accepted,
      apiLatencyMs: API_LATENCY_MS,
    };
  } finally {
    await s.app.stop();
    await rm(s.dir, { recursive: true, force: true });
  }
}

async function steady(n: number, rate: number) {
  const s = await start();
  try {
    const sf = s.app.salesforceSandbox!;
    const bar = progress(`steady ${n} @ ${rate}/s`, n);
    const created = new Map<string, number>();
    const t0 = performance.now();
    let looked = t0;
    while (created.size < n) {
      const due = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
      if (due > created.size)
        for (const l of sf.demo.createLeads(due - created.size, 'generator'))
          created.set(String(l['Id']), Date.now());
      if (performance.now() - looked >= POLL_MS) {
        looked = performance.now();
        const owners = witness(s).owners;
        bar.tick([...created.keys()].filter((id) => owners.has(id)).length);
      }
      await sleep(Math.max(1, Math.round(1000 / rate / 2)));
    }
    const ids = [...created.keys()];
    await until(`${n} steady-rate leads to be routed`, 120_000, async () => {
      const w = witness(s);
      bar.tick(ids.filter((id) => w.owners.has(id)).length);
      return ids.every((id) => w.owners.has(id)) && (await settled(s, n));
    });
    bar.done();
    const w = witness(s);
    const latencies = ids
      .map((id) => (w.owners.get(id)?.[0]?.at ?? NaN) - (created.get(id) ?? NaN))
      .filter((x) => Number.isFinite(x))
      .sort((a, b) => a - b);
    const stats = calls(s);
    return {
      leads: n,
      ratePerSec: rate,
      apiLatencyMs: API_LATENCY_MS,
      p50LatencyMs: Math.round(percentile(latencies, 50)),
      p95LatencyMs: Math.round(percentile(latencies, 95)),
      maxLatencyMs: Math.round(latencies[latencies.length - 1] ?? NaN),
      apiCallsPerLead: round(totalCalls(stats.accepted) / n, 4),
      calls: stats.accepted,
    };
  } finally {
    await s.app.stop();
    await rm(s.dir, { recursive: true, force: true });
  }
}

/** Runs the burst and the steady phase; the JSON line bench:e2e prints for HubSpot, for Salesforce. */
export async function salesforceE2e(leads: number, rate: number, steadySeconds: number) {
  const b = await burst(leads);
  const s = await steady(Math.max(1, Math.min(leads, rate * steadySeconds)), rate);
  return {
    crm: 'salesforce',
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
    targets: {
      ratio: b.ratio <= 1.2,
      p95: s.p95LatencyMs <= 2000,
      ownerTaskCallsPerLead: b.ownerTaskCallsPerLead <= 0.02,
      lostAndDuplicates: b.lost === 0 && b.duplicates === 0,
    },
    burst: b,
    steady: s,
  };
}
