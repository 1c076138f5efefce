// `npm run bench:e2e -- --crm salesforce`: the whole app over the Salesforce sandbox on 127.0.0.1
// (CometD change events in, jsforce calls out), measured from the sandbox's side, as bench:e2e measures
// HubSpot. The sandbox runs in a worker thread (salesforce-org-thread.ts), so the org's own work does not
// take turns with the app's on one event loop; the app installs the org through OAuth as for a real
// one. Burst: N leads at once; how close the app gets to the least time the required calls take.
// Steady: a fresh app, 20 leads/s; owner-write latency per lead (p50, p95).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { totalCalls } from '../connectors/sandbox-kit/call-stats.js';
import { SALESFORCE_PROFILE } from '../connectors/salesforce/profile.js';
import { loadConfig } from '../src/app/config.js';
import { installSalesforceThroughOAuth } from '../src/app/salesforce-sandbox.js';
import { freePort, startApp, type RunningApp } from '../src/app/start.js';
import { isFreeMailDomain, registrableDomain } from '../src/core/normalize.js';
import { createLogger } from '../src/log.js';
import { POLL_MS, until } from './app.js';
import { round } from './lower-bound.js';
import { progress } from './progress.js';
import { OrgThread, type CreatedLead, type LeadEffects } from './salesforce-org.js';

/** Per-call latency the sandbox adds: a Salesforce REST round trip is rarely faster. */
export const API_LATENCY_MS = 50;
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
  org: OrgThread;
  tenantId: string;
  dir: string;
}

/** The org in its thread, and the app installed into it through OAuth, once its Lead stream subscribed. */
async function start(): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-bench-sf-'));
  const port = await freePort('127.0.0.1');
  const org = await OrgThread.start({
    redirectUri: `http://127.0.0.1:${port}/oauth/salesforce/callback`,
    apiLatencyMs: API_LATENCY_MS,
  });
  let subscribed = 0;
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (chunk.toString('utf8').includes('"subscribed to change events"')) subscribed++;
      done();
    },
  });
  const config = loadConfig({
    // The sandbox org's demo rules, named as a real deployment must name its own.
    RULES: 'rules/salesforce-demo/rules.yaml',
    SALESFORCE_CLIENT_ID: org.ready.clientId,
    SALESFORCE_CLIENT_SECRET: org.ready.clientSecret,
    SALESFORCE_LOGIN_URL: org.ready.url,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dir,
  });
  const app = await startApp(config, { logger: createLogger({ level: 'info', stream }) });
  await installSalesforceThroughOAuth(`${app.url}/oauth/salesforce/install`);
  const tenant = await app.storage.findTenant('salesforce', org.ready.orgId);
  if (tenant === null) throw new Error('the OAuth install created no tenant');
  // Leads created before the subscription would be found only by the catch-up poll (minutes later).
  await until('the change-event streams to subscribe', 60_000, () => Promise.resolve(subscribed >= 2));
  return { app, org, tenantId: tenant.id, dir };
}

async function stop(s: Started): Promise<void> {
  await s.app.stop();
  await s.org.stop();
  await rm(s.dir, { recursive: true, force: true });
}

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
function requiredCalls(leads: readonly CreatedLead[], effects: readonly LeadEffects[]) {
  const domains = new Set<string>();
  for (const l of leads)
    for (const v of [l.email, l.website]) {
      const d = v !== undefined && v !== '' ? registrableDomain(v) : undefined;
      if (d !== undefined && !isFreeMailDomain(d)) domains.add(d);
    }
  const per = (kind: 'tasks' | 'notes' | 'cadences') =>
    Math.ceil(effects.filter((e) => e[kind].length > 0).length / BATCH);
  return {
    reads: Math.ceil(leads.length / BATCH),
    ownerBatches: Math.ceil(leads.length / BATCH),
    taskBatches: per('tasks'),
    noteBatches: per('notes'),
    enrollmentBatches: per('cadences'),
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

const KINDS = ['owners', 'tasks', 'cadences', 'notes'] as const;

/**
 * A burst's figures from the org's write log: from the leads' creation to the last write made for them,
 * against the least time the required calls take; the first owner write (the cold start: one-time
 * reads before it); leads never given an owner, and leads written to twice.
 */
export function burstFigures(
  leads: readonly CreatedLead[],
  createdAt: number,
  effects: readonly LeadEffects[],
  accepted: Record<string, number>,
) {
  const finishedAt = effects
    .flatMap((e) => KINDS.flatMap((k) => e[k]))
    .reduce((a, b) => Math.max(a, b), -Infinity);
  const elapsedSec = (finishedAt - createdAt) / 1000;
  const firstOwnerAt = effects.flatMap((e) => e.owners).reduce((a, b) => Math.min(a, b), Infinity);
  const required = requiredCalls(leads, effects);
  const lowerBound = lowerBoundSec(required);
  const ownerTask = (accepted['collections.update'] ?? 0) + (accepted['collections.create'] ?? 0);
  return {
    elapsedSec: round(elapsedSec, 2),
    firstOwnerSec: round((firstOwnerAt - createdAt) / 1000, 2),
    lowerBoundSec: round(lowerBound, 2),
    ratio: round(elapsedSec / lowerBound, 2),
    apiCallsPerLead: round(totalCalls(accepted) / leads.length, 4),
    /** Collections updates (owners) and creates (tasks, notes) per lead. */
    ownerTaskCallsPerLead: round(ownerTask / leads.length, 4),
    lost: effects.filter((e) => e.owners.length === 0).length,
    duplicates: effects.filter((e) => KINDS.some((k) => e[k].length > 1)).length,
    enrolled: effects.filter((e) => e.cadences.length > 0).length,
    required,
    calls: accepted,
    apiLatencyMs: API_LATENCY_MS,
  };
}

async function burst(n: number) {
  const s = await start();
  try {
    const bar = progress(`burst ${n}`, n);
    const t0 = Date.now();
    // Creating the leads runs on the org's thread before any event goes out: not the app's time.
    const { leads, createdAt } = await s.org.ask({ kind: 'createLeads', n });
    const wallStart = performance.now();
    await until(`${n} leads to be routed`, 60_000 + n * 30, async () => {
      const routed = await s.org.ask({ kind: 'routed' });
      bar.tick(routed.owners);
      return routed.ownersAndTasks === n && (await settled(s, n));
    });
    bar.done();
    const wallSec = (performance.now() - wallStart) / 1000;
    const { leads: effects } = await s.org.ask({ kind: 'effects' });
    const { accepted } = await s.org.ask({ kind: 'calls' });
    const dead = await s.app.storage.deadLetters(s.tenantId, n);
    const figures = burstFigures(leads, createdAt, effects, accepted);
    return {
      leads: n,
      ...figures,
      wallSec: round(wallSec, 2),
      creationSec: round((createdAt - t0) / 1000, 2),
      deadLetters: dead.length,
    };
  } finally {
    await stop(s);
  }
}

async function steady(n: number, rate: number) {
  const s = await start();
  try {
    const bar = progress(`steady ${n} @ ${rate}/s`, n);
    const created = new Map<string, number>();
    const t0 = performance.now();
    let looked = t0;
    while (created.size < n) {
      const due = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
      if (due > created.size) {
        const made = await s.org.ask({ kind: 'createLeads', n: due - created.size });
        for (const l of made.leads) created.set(l.id, made.createdAt);
      }
      if (performance.now() - looked >= POLL_MS) {
        looked = performance.now();
        bar.tick((await s.org.ask({ kind: 'routed' })).owners);
      }
      await sleep(Math.max(1, Math.round(1000 / rate / 2)));
    }
    await until(`${n} steady-rate leads to be routed`, 120_000, async () => {
      const routed = await s.org.ask({ kind: 'routed' });
      bar.tick(routed.owners);
      return routed.owners === n && (await settled(s, n));
    });
    bar.done();
    const { leads: effects } = await s.org.ask({ kind: 'effects' });
    const latencies = effects
      .map((e) => (e.owners[0] ?? NaN) - (created.get(e.id) ?? NaN))
      .filter((x) => Number.isFinite(x))
      .sort((a, b) => a - b);
    const { accepted } = await s.org.ask({ kind: 'calls' });
    return {
      leads: n,
      ratePerSec: rate,
      apiLatencyMs: API_LATENCY_MS,
      p50LatencyMs: Math.round(percentile(latencies, 50)),
      p95LatencyMs: Math.round(percentile(latencies, 95)),
      maxLatencyMs: Math.round(latencies[latencies.length - 1] ?? NaN),
      apiCallsPerLead: round(totalCalls(accepted) / n, 4),
      calls: accepted,
    };
  } finally {
    await stop(s);
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
