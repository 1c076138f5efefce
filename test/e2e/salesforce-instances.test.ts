// Two app instances (real processes) on one PostgreSQL schema, both installed for one Salesforce org:
// exactly one holds the org's change-event subscription (a lease in the database). The holder is killed
// with SIGKILL; the other takes the subscription over once the lease lapses and replays from the stored
// replay id. Every lead, before, during and after the outage, is routed exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import {
  createSalesforceSandbox,
  targetEffects,
  type DemoOrg,
  type SalesforceSandbox,
} from '../../connectors/sandbox-salesforce/index.js';
import { installSalesforceThroughOAuth } from '../../src/app/salesforce-sandbox.js';
import { freePort } from '../../src/app/start.js';
import {
  createPgSchema,
  describeNeeding,
  PG_URL,
  REDIS_URL,
  uniqueRedisPrefix,
  type PgSchema,
} from '../support/services.js';
import { duplicated, until } from './salesforce-support.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLIENT_ID = 'lead-router-instances';
const CLIENT_SECRET = randomBytes(24).toString('hex');

interface Instance {
  child: ChildProcess;
  url: string;
  logFile: string;
  exited: Promise<unknown>;
}

describeNeeding(['postgres'])('two instances sharing one Salesforce org on PostgreSQL', () => {
  let sf: SalesforceSandbox;
  let demo: DemoOrg;
  let schema: PgSchema;
  let dir: string;
  const instances: Instance[] = [];

  /** An app process (ROLE=all) on the shared schema, as an operator would start one. */
  async function startInstance(name: string, port: number, sfUrl: string): Promise<Instance> {
    const logFile = join(dir, `${name}.log`);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? ROOT,
        LOG_LEVEL: 'info',
        DATABASE_URL: PG_URL,
        DATABASE_SCHEMA: schema.name,
        REDIS_URL,
        REDIS_KEY_PREFIX: uniqueRedisPrefix(),
        TOKEN_ENCRYPTION_KEY: 'cd'.repeat(32),
        // The sandbox org's demo rules, named as a real deployment must name its own.
        RULES: 'rules/salesforce-demo/rules.yaml',
        SALESFORCE_CLIENT_ID: CLIENT_ID,
        SALESFORCE_CLIENT_SECRET: CLIENT_SECRET,
        SALESFORCE_LOGIN_URL: sfUrl,
        HOST: '127.0.0.1',
        PORT: String(port),
        DATA_DIR: join(dir, name),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr?.pipe(createWriteStream(logFile, { flags: 'a' }));
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const exited = new Promise((done) => child.once('exit', done));
    const instance = { child, url: `http://127.0.0.1:${port}`, logFile, exited };
    instances.push(instance);
    await until(`${name} to start`, () => out.includes('lead-router is running at'), 60_000);
    return instance;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lead-router-sf-instances-'));
    schema = await createPgSchema();
    const ports = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    sf = createSalesforceSandbox({
      seed: 7,
      apps: [
        {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          redirectUris: ports.map((p) => `http://127.0.0.1:${p}/oauth/salesforce/callback`),
          rotateRefreshTokens: false,
          accessTokenTtlMs: 3_600_000,
        },
      ],
    });
    demo = sf.createDemoOrg({ accounts: 30 });
    const { url } = await sf.start();
    await startInstance('a', ports[0]!, url);
    await startInstance('b', ports[1]!, url);
  }, 120_000);

  afterAll(async () => {
    for (const i of instances) {
      if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGKILL');
      await i.exited;
    }
    await sf?.stop();
    await schema?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const routedOnce = (ids: string[]) => () => {
    const w = targetEffects(sf.writes, demo.org.orgId);
    return ids.every((id) => w.owners.has(id) && w.tasks.has(id));
  };
  const logs = async (i: Instance) => readFile(i.logFile, 'utf8').catch(() => '');
  const subscribedIn = async (i: Instance) =>
    (await logs(i)).split('\n').filter((l) => l.includes('"subscribed to change events"')).length;

  it('routes every lead exactly once when the instance holding the subscription is killed', async () => {
    const [a, b] = instances as [Instance, Instance];
    // Installed through A: A starts the org's stream at once; B finds the org on its periodic look.
    await installSalesforceThroughOAuth(`${a.url}/oauth/salesforce/install`);
    await until('A to subscribe', async () => (await subscribedIn(a)) >= 2, 60_000);
    const first = demo.createLeads(20, 'admin').map((l) => String(l['Id']));
    await until('the first leads to be routed', routedOnce(first), 90_000);
    // Only the lease holder reads the stream.
    expect(await subscribedIn(b)).toBe(0);

    a.child.kill('SIGKILL');
    await a.exited;
    const during = demo.createLeads(20, 'admin').map((l) => String(l['Id']));
    // B takes the lease over once A's lapses (30 s), and replays what A had not stored as read.
    await until('the leads created after the kill to be routed by B', routedOnce(during), 150_000);
    expect(await subscribedIn(b)).toBeGreaterThanOrEqual(1);
    const after = demo.createLeads(10, 'admin').map((l) => String(l['Id']));
    await until('the last leads to be routed', routedOnce(after), 90_000);

    const all = [...first, ...during, ...after];
    expect(duplicated(targetEffects(sf.writes, demo.org.orgId), all)).toEqual([]);
  }, 400_000);
});
