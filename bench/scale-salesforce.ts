// `npm run bench:scale -- --crm salesforce`: one Salesforce org's burst routed by 1 and by N worker
// processes over PostgreSQL + Redis, as an operator would run them: one `ROLE=web` process (the OAuth
// install and the org's change-event subscription) and N `ROLE=worker` processes sharing the inbox. The
// org runs in a worker thread of this process (bench/salesforce-org-thread.ts), with the same latency
// and the same lower bound as bench:e2e's Salesforce burst, so the two benches' figures compare.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tokenKeyring, loadConfig } from '../src/app/config.js';
import { installSalesforceThroughOAuth } from '../src/app/salesforce-sandbox.js';
import { freePort } from '../src/app/start.js';
import { openStorage, type Storage } from '../src/storage/index.js';
import { ManagedProcess, processEnv, workerProcesses } from '../test/support/cluster.js';
import { createPgSchema, PG_URL } from '../test/support/services.js';
import { until } from './app.js';
import { API_LATENCY_MS, burstFigures } from './e2e-salesforce.js';
import { progress } from './progress.js';
import { OrgThread } from './salesforce-org.js';

interface Cluster {
  org: OrgThread;
  storage: Storage;
  tenantId: string;
  processes: ManagedProcess[];
  stop(): Promise<void>;
}

/** The org, a PostgreSQL schema, the web process (installed through OAuth, subscribed) and the workers. */
async function startCluster(workers: number, log: (line: string) => void): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-scale-sf-'));
  const webPort = await freePort('127.0.0.1');
  const url = `http://127.0.0.1:${webPort}`;
  const org = await OrgThread.start({
    redirectUri: `${url}/oauth/salesforce/callback`,
    apiLatencyMs: API_LATENCY_MS,
  });
  const schema = await createPgSchema();
  const env: Record<string, string> = {
    ...processEnv(url, dir, schema),
    // The sandbox org's demo rules, named as a real deployment must name its own.
    RULES: 'rules/salesforce-demo/rules.yaml',
    SALESFORCE_CLIENT_ID: org.ready.clientId,
    SALESFORCE_CLIENT_SECRET: org.ready.clientSecret,
    SALESFORCE_LOGIN_URL: org.ready.url,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'warn',
  };
  const web = new ManagedProcess(
    'web',
    'web',
    // At info: its log says when the org's streams are subscribed.
    { ...env, ROLE: 'web', PORT: String(webPort), LOG_LEVEL: 'info' },
    dir,
    () => Promise.resolve(),
    log,
  );
  const spawned = workerProcesses(workers, env, dir, log);
  const processes = [web, ...spawned];
  const storage = await openStorage({
    url: PG_URL,
    schema: schema.name,
    cipher: await tokenKeyring(loadConfig(env)),
  });
  const stop = async () => {
    await Promise.all(processes.map((p) => p.kill('SIGTERM')));
    await storage.close();
    await org.stop();
    await schema.drop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await web.start();
    await installSalesforceThroughOAuth(`${url}/oauth/salesforce/install`);
    const tenant = await storage.findTenant('salesforce', org.ready.orgId);
    if (tenant === null) throw new Error('the OAuth install created no tenant');
    // Leads created before the subscription would be found only by the catch-up poll (minutes later).
    await until('the change-event streams to subscribe', 60_000, async () => {
      const logs = await readFile(join(dir, 'web.log'), 'utf8').catch(() => '');
      return logs.split('"subscribed to change events"').length - 1 >= 2;
    });
    await Promise.all(spawned.map((w) => w.start()));
    return { org, storage, tenantId: tenant.id, processes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function run(leads: number, workers: number) {
  const cluster = await startCluster(workers, (line) => process.stderr.write(`  ${line}\n`));
  try {
    const bar = progress(`${workers} worker${workers === 1 ? '' : 's'}: ${leads} leads`, leads);
    const { leads: created, createdAt } = await cluster.org.ask({ kind: 'createLeads', n: leads });
    await until(`${leads} leads to be routed by ${workers} workers`, 120_000 + leads * 60, async () => {
      const routed = await cluster.org.ask({ kind: 'routed' });
      bar.tick(routed.owners);
      if (routed.ownersAndTasks !== leads) return false;
      const inbox = await cluster.storage.inboxStats(cluster.tenantId);
      return inbox.pending === 0 && inbox.leased === 0;
    });
    bar.done();
    const { leads: effects } = await cluster.org.ask({ kind: 'effects' });
    const { accepted } = await cluster.org.ask({ kind: 'calls' });
    const dead = await cluster.storage.deadLetters(cluster.tenantId, leads);
    return {
      workers,
      ...burstFigures(created, createdAt, effects, accepted),
      deadLetters: dead.length,
      decisionsPerWorker: cluster.processes.slice(1).map((w) => w.decisions),
    };
  } finally {
    await cluster.stop();
  }
}

/** Runs the burst once per worker count; the JSON line bench:scale prints for HubSpot, for Salesforce. */
export async function salesforceScale(leads: number, workerCounts: readonly number[]) {
  const runs = [];
  for (const workers of workerCounts) runs.push(await run(leads, workers));
  const last = runs[runs.length - 1]!;
  return {
    crm: 'salesforce',
    leads,
    apiLatencyMs: API_LATENCY_MS,
    runs,
    targets: {
      ratio: last.ratio <= 1.2,
      lostAndDuplicates: runs.every((r) => r.lost === 0 && r.duplicates === 0),
    },
  };
}
