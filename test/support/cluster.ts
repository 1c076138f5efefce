// A multi-process deployment on one machine, as an operator would run it: the sandbox CRM (in this
// process, with its write log as the witness), one `ROLE=web` intake process and N `ROLE=worker`
// processes, all sharing one PostgreSQL schema and one Redis rate budget. Used by the scale, crash and
// restart tests and by `npm run bench:scale`. Processes are real: they can be killed with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  contactEffects,
  createHubSpotSandbox,
  seedDemoPortal,
  type ContactEffects,
  type DemoPortal,
  type HubSpotSandbox,
  type Portal,
  type SandboxOptions,
  type WebhookConfig,
} from '../../connectors/sandbox/index.js';
import { loadConfig, tokenKeyring } from '../../src/app/config.js';
import { sqliteFile } from '../../src/app/open-storage.js';
import { freePort } from '../../src/app/start.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { createPgSchema, PG_URL, REDIS_URL, uniqueRedisPrefix, type PgSchema } from './services.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ClusterOptions {
  workers: number;
  rules?: string;
  team?: string;
  /** The portal's budget per 10 s, for the sandbox and the app alike (default HubSpot's 110). */
  requestsPer10s?: number;
  sandbox?: SandboxOptions;
  webhooks?: Partial<Pick<WebhookConfig, 'duplicateRate' | 'outOfOrder' | 'dropRate' | 'maxConcurrent'>>;
  /** Extra environment for every app process. */
  env?: Record<string, string>;
  /** Progress and failures of the processes (default: silent). */
  log?: (line: string) => void;
  /**
   * One `ROLE=all` process on a SQLite file in its DATA_DIR (`web` is that process; `workers` must be
   * 0) instead of PostgreSQL and Redis.
   */
  sqlite?: boolean;
}

export interface AppProcess {
  readonly name: string;
  readonly role: 'web' | 'worker';
  readonly pid: number | undefined;
  /** Decision lines this process printed (each is one routed lead). */
  readonly decisions: number;
  readonly running: boolean;
  /** Resolves when the process has exited, with its exit code or signal. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Starts it again with the same name and environment. */
  restart(): Promise<void>;
  /** The process's stderr (structured logs), for failure messages. */
  logs(): Promise<string>;
}

export interface Cluster {
  crm: HubSpotSandbox;
  portal: Portal;
  portalId: number;
  demo: DemoPortal;
  tenantId: string;
  /** The web process's public URL (webhooks, OAuth, health). */
  url: string;
  web: AppProcess;
  workers: AppProcess[];
  /** Storage on the cluster's schema, opened by the test for inspection. */
  storage: Storage;
  /** The PostgreSQL schema ('' on SQLite). */
  schema: string;
  /** The environment every app process gets (for operator commands run against the cluster). */
  env: Record<string, string>;
  effects(): ContactEffects;
  /** Polls until `check` holds; throws naming `what` (and the processes' last logs) past the deadline. */
  until(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void>;
  /** True when every contact has an owner written and the inbox holds nothing pending or leased. */
  settled(contactIds: string[]): Promise<boolean>;
  /** Another portal, seeded like the first, installed through OAuth and sending webhooks to the web process. */
  addPortal(): Promise<InstalledPortal>;
  stop(): Promise<void>;
}

export interface InstalledPortal {
  portal: Portal;
  portalId: number;
  demo: DemoPortal;
  tenantId: string;
}

/** An app process (`src/main.ts`) with its own environment, its stderr kept in `<dir>/<name>.log`. */
export class ManagedProcess implements AppProcess {
  private child: ChildProcess | undefined;
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({
    code: null,
    signal: null,
  });
  private decided = 0;
  private starts = 0;

  constructor(
    readonly name: string,
    readonly role: 'web' | 'worker',
    private readonly env: Record<string, string>,
    private readonly dir: string,
    private readonly ready: (child: ManagedProcess) => Promise<void>,
    private readonly log: (line: string) => void,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }
  get decisions(): number {
    return this.decided;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private get logFile(): string {
    return join(this.dir, `${this.name}.log`);
  }

  async start(): Promise<void> {
    this.starts += 1;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stderr?.pipe(createWriteStream(this.logFile, { flags: 'a' }));
    let buffered = '';
    let announced = false;
    const announcedP = new Promise<void>((ok) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          if (line.startsWith('lead-router ')) {
            announced = true;
            ok();
          } else if (line.includes('→')) this.decided += 1;
        }
      });
    });
    this.exit = new Promise((done) => {
      child.once('exit', (code, signal) => {
        if (!announced) this.log(`${this.name} exited before it was ready (${code ?? signal})`);
        done({ code, signal });
      });
    });
    const failed = this.exit.then(async ({ code, signal }) => {
      throw new Error(
        `${this.name} exited at start (${code ?? signal}): ${(await this.logs()).slice(-2000)}`,
      );
    });
    await Promise.race([announcedP.then(() => this.ready(this)), failed]);
    this.log(`${this.name} started (pid ${child.pid}, start ${this.starts})`);
  }

  exited() {
    return this.exit;
  }

  async kill(signal: NodeJS.Signals) {
    if (this.running) this.child?.kill(signal);
    return this.exit;
  }

  restart(): Promise<void> {
    return this.start();
  }

  async logs(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }
}

/**
 * What every app process of a deployment on this machine shares: served at `url`, its DATA_DIR, and with a
 * schema, that PostgreSQL schema and a Redis key prefix of its own (without: SQLite in DATA_DIR).
 */
export function processEnv(url: string, dir: string, schema: PgSchema | undefined): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? tmpdir(),
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PUBLIC_URL: url,
    DATA_DIR: dir,
    ...(schema === undefined
      ? {}
      : {
          DATABASE_URL: PG_URL,
          DATABASE_SCHEMA: schema.name,
          REDIS_URL,
          REDIS_KEY_PREFIX: uniqueRedisPrefix(),
        }),
  };
}

/** `count` ROLE=worker processes on `env`, named worker-1…; not started. */
export function workerProcesses(
  count: number,
  env: Record<string, string>,
  dir: string,
  log: (line: string) => void,
): ManagedProcess[] {
  return Array.from(
    { length: count },
    (_, i) =>
      new ManagedProcess(
        `worker-${i + 1}`,
        'worker',
        // A worker serves only /healthz, /readyz and /metrics, on a port of its own.
        { ...env, ROLE: 'worker', PORT: '0' },
        dir,
        () => Promise.resolve(),
        log,
      ),
  );
}

/** Starts the sandbox, the PostgreSQL schema, the web process (installed through OAuth) and N workers. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const log = options.log ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-cluster-'));
  const budget = options.requestsPer10s ?? 110;
  const app = {
    appId: 4243,
    clientId: `cluster-${randomBytes(4).toString('hex')}`,
    clientSecret: randomBytes(24).toString('hex'),
  };
  const crm = createHubSpotSandbox({
    seed: 11,
    apps: [app],
    ...options.sandbox,
    rateLimits: { max: budget, ...options.sandbox?.rateLimits },
  });
  const { url: crmUrl } = await crm.start(0);
  const portal = crm.createPortal({});
  const demo = seedDemoPortal(portal);
  const portalId = portal.portalId;

  const sqlite = options.sqlite === true;
  if (sqlite && options.workers > 0) throw new Error('a SQLite cluster is one process: workers must be 0');
  const schema: PgSchema | undefined = sqlite ? undefined : await createPgSchema();
  const webPort = await freePort('127.0.0.1');
  const url = `http://127.0.0.1:${webPort}`;
  const env: Record<string, string> = {
    ...processEnv(url, dir, schema),
    HUBSPOT_CLIENT_ID: app.clientId,
    HUBSPOT_CLIENT_SECRET: app.clientSecret,
    HUBSPOT_APP_ID: String(app.appId),
    HUBSPOT_API_BASE: crmUrl,
    HUBSPOT_AUTHORIZE_ORIGIN: crmUrl,
    HUBSPOT_REQUESTS_PER_10S: String(budget),
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    RULES: options.rules ?? join(ROOT, 'test/fixtures/scale/rules.yaml'),
    TEAM: options.team ?? join(ROOT, 'test/fixtures/scale/team.yaml'),
    LOG_LEVEL: 'warn',
    ...options.env,
  };

  const healthy = async (): Promise<void> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error('the web process never became healthy');
      await sleep(100);
    }
  };
  const started: ManagedProcess[] = [];
  const web = new ManagedProcess(
    'web',
    'web',
    { ...env, ROLE: sqlite ? 'all' : 'web', PORT: String(webPort) },
    dir,
    healthy,
    log,
  );
  const workers = workerProcesses(options.workers, env, dir, log);
  const storage = await openStorage({
    ...(schema === undefined ? { file: sqliteFile(loadConfig(env)) } : { url: PG_URL, schema: schema.name }),
    // The test reads inbox, decisions and dead letters; the keyring is the processes' own.
    cipher: await tokenKeyring(loadConfig(env)),
  });

  /** Installs the portal through the real OAuth flow, as an admin clicking the install link would. */
  const install = async (id: number): Promise<string> => {
    const res = await fetch(`${url}/oauth/hubspot/install?portalId=${id}`);
    if (!res.ok) throw new Error(`install failed: ${res.status} ${(await res.text()).slice(0, 300)}`);
    const tenant = await storage.findTenant('hubspot', String(id));
    if (tenant === null) throw new Error('the OAuth install created no tenant');
    crm.configureWebhooks(id, {
      ...options.webhooks,
      targetUrl: `${url}/webhooks/hubspot`,
      clientSecret: app.clientSecret,
      appId: app.appId,
    });
    return tenant.id;
  };

  let tenantId: string;
  try {
    started.push(web);
    await web.start();
    tenantId = await install(portalId);
    started.push(...workers);
    await Promise.all(workers.map((w) => w.start()));
  } catch (error) {
    await Promise.all(started.map((p) => p.kill('SIGKILL')));
    await storage.close();
    await crm.stop();
    await schema?.drop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const all = [web, ...workers];
  const cluster: Cluster = {
    crm,
    portal,
    portalId,
    demo,
    tenantId,
    url,
    web,
    workers,
    storage,
    schema: schema?.name ?? '',
    env,
    effects: () => contactEffects(crm.writes, portalId),
    async until(what, timeoutMs, check) {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) {
          const tails = await Promise.all(
            all.map(async (p) => `--- ${p.name}\n${(await p.logs()).slice(-1500)}`),
          );
          throw new Error(
            `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}\n${tails.join('\n')}`,
          );
        }
        await sleep(250);
      }
    },
    async settled(contactIds) {
      const owners = contactEffects(crm.writes, portalId).owners;
      if (!contactIds.every((id) => owners.has(id))) return false;
      const s = await storage.inboxStats(tenantId);
      return s.pending === 0 && s.leased === 0;
    },
    async addPortal() {
      const added = crm.createPortal({});
      const addedDemo = seedDemoPortal(added);
      return {
        portal: added,
        portalId: added.portalId,
        demo: addedDemo,
        tenantId: await install(added.portalId),
      };
    },
    async stop() {
      // SIGTERM drains; a process still running after 20 s is named (with its last log) and killed, so
      // that a hung shutdown shows up as a finding instead of a test-runner timeout.
      await Promise.all(
        all.map(async (p) => {
          const exited = p.kill('SIGTERM');
          let timer: NodeJS.Timeout | undefined;
          const late = await Promise.race([
            exited.then(() => false),
            new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 20_000))),
          ]);
          // Cleared, or it would hold the test process for 20 s after a prompt exit.
          clearTimeout(timer);
          if (!late) return;
          const tail = (await p.logs()).slice(-1500);
          console.warn(`${p.name} did not exit within 20 s of SIGTERM; killed. Last log:\n${tail}`);
          await p.kill('SIGKILL');
        }),
      );
      await storage.close();
      await crm.stop();
      await schema?.drop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

/** Per-rep owner counts for the contacts given, from the write log (owner ids → counts). */
export function ownerCounts(effects: ContactEffects, contactIds: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of contactIds) {
    const owner = effects.owners.get(id)?.[0]?.details['to'];
    if (owner === undefined) continue;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return counts;
}
