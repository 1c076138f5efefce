// `npm start` as a new user runs it, in real child processes on free ports and a temporary DATA_DIR:
// stopped with a signal sent to npm, started again on the same data, and started with mistakes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/app/start.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Launched {
  child: ChildProcess;
  out(): string;
  err(): string;
  /** Every process holding the output pipes has exited (npm, and the app it started). */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stdout matches; rejects if the output closes first or after `ms`. */
  waitFor(check: (out: string) => boolean, what: string, ms?: number): Promise<void>;
}

function launch(command: 'npm' | 'node', env: Record<string, string>): Launched {
  const args = command === 'npm' ? ['start'] : ['--import', 'tsx', 'src/main.ts'];
  const child = spawn(command === 'npm' ? 'npm' : process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? ROOT, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('close', (code, signal) => done({ code, signal })),
  );
  let isClosed = false;
  void closed.then(() => (isClosed = true));
  return {
    child,
    out: () => out,
    err: () => err,
    closed,
    async waitFor(check, what, ms = 60_000) {
      const deadline = Date.now() + ms;
      while (!check(out)) {
        if (isClosed || Date.now() > deadline)
          throw new Error(`${what}: not seen (${isClosed ? 'exited' : 'deadline'})\n${out}\n${err}`);
        await sleep(100);
      }
    },
  };
}

/** Resolves with the exit when every process of the launch is gone; fails if one outlives `ms`. */
async function gone(p: Launched, what: string, ms = 30_000) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running ${ms} ms after the signal`)), ms);
  });
  try {
    return await Promise.race([p.closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills whatever app process still holds the data directory (a failed test must not leave one). */
async function killLeftover(dataDir: string): Promise<void> {
  const pid = Number((await readFile(join(dataDir, 'lead-router.pid'), 'utf8').catch(() => '')).trim());
  if (Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const decisionLines = (out: string) => out.split('\n').filter((l) => l.includes(' → '));
const emailOf = (line: string) => line.split(' → ')[0] ?? '';

interface WriteRecord {
  kind: string;
  objectId: string;
  source: string;
  details: Record<string, string>;
}

let dir: string;
let env: Record<string, string>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lead-router-npm-start-'));
  env = {
    PORT: String(await freePort('127.0.0.1')),
    SANDBOX_PORT: String(await freePort('127.0.0.1')),
    DATA_DIR: join(dir, 'data'),
  };
});

afterEach(async () => {
  await killLeftover(join(dir, 'data'));
  await rm(dir, { recursive: true, force: true });
});

describe('npm start stops on a signal sent to npm', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s: the app finishes, says "stopped", and no process is left holding the ports',
    async (signal) => {
      const app = launch('npm', { ...env, DEMO_RATE: '0' });
      await app.waitFor((o) => o.includes('lead-router is running at'), 'banner');
      app.child.kill(signal);
      const exit = await gone(app, `npm start after ${signal}`);
      expect(app.out()).toMatch(/lead-router stopped\n$/);
      expect(exit.code).toBe(0);
      // The ports are free again: a new server can bind them.
      for (const port of [env['PORT'], env['SANDBOX_PORT']]) {
        const probe: Server = createServer();
        await new Promise<void>((ok, fail) =>
          probe.once('error', fail).listen(Number(port), '127.0.0.1', ok),
        );
        await new Promise<void>((ok) => probe.close(() => ok()));
      }
    },
    90_000,
  );
});

describe('npm start, stop, npm start again on the same DATA_DIR', () => {
  it('routes the new demo leads, with no contact id reused and nothing written twice', async () => {
    const first = launch('npm', { ...env, DEMO_RATE: '4' });
    await first.waitFor((o) => decisionLines(o).length >= 5, 'five leads routed in the first run');
    first.child.kill('SIGINT');
    await gone(first, 'first run');
    expect(first.out()).toContain('lead-router stopped');

    const second = launch('npm', { ...env, DEMO_RATE: '4' });
    await second.waitFor((o) => o.includes('continued from DATA_DIR'), 'banner of the second run');
    await second.waitFor((o) => decisionLines(o).length >= 5, 'five leads routed in the second run');
    // The banner's URL is a page linking health, metrics and the sandbox's writes.
    const home = await (await fetch(`http://127.0.0.1:${env['PORT']}/`)).text();
    for (const href of [
      '/healthz',
      '/metrics',
      `http://127.0.0.1:${env['SANDBOX_PORT']}/_sandbox/writes?source=api`,
    ])
      expect(home).toContain(`href="${href}"`);
    // The banner's settings link opens the demo portal's tab: a session cookie, then its Rules page.
    const link = /settings tab of the demo portal \(link valid for an hour\): (\S+)/.exec(second.out())?.[1];
    expect(link).toMatch(/\/settings\/open\?/);
    const opened = await fetch(link!, { redirect: 'manual' });
    expect(opened.status).toBe(303);
    const cookie = (opened.headers.get('set-cookie') ?? '').split(';')[0]!;
    const tab = await fetch(`http://127.0.0.1:${env['PORT']}${opened.headers.get('location') ?? ''}`, {
      headers: { cookie },
    });
    expect(tab.status).toBe(200);
    expect(await tab.text()).toContain('<title>Rules · ');
    // The second run goes on deciding until it is stopped: what is checked is what was decided before
    // the writes were read.
    const secondLines = decisionLines(second.out());
    const res = await fetch(`http://127.0.0.1:${env['SANDBOX_PORT']}/_sandbox/writes`);
    const writes = ((await res.json()) as { results: WriteRecord[] }).results;
    second.child.kill('SIGTERM');
    await gone(second, 'second run');

    // Every lead decided once, across both runs.
    const decided = [...decisionLines(first.out()), ...decisionLines(second.out())].map(emailOf);
    expect(new Set(decided).size).toBe(decided.length);
    // The sandbox kept its contacts: ids and emails are never reused.
    const contacts = writes.filter((w) => w.kind === 'contact.created');
    expect(new Set(contacts.map((c) => c.objectId)).size).toBe(contacts.length);
    expect(new Set(contacts.map((c) => c.details['email'])).size).toBe(contacts.length);
    // The second run's leads are contacts created after the first run's.
    const idOf = new Map(contacts.map((c) => [c.details['email'], Number(c.objectId)]));
    const firstIds = decisionLines(first.out()).map((l) => idOf.get(emailOf(l)) ?? NaN);
    const secondIds = secondLines.map((l) => idOf.get(emailOf(l)) ?? NaN);
    expect(Math.min(...secondIds)).toBeGreaterThan(Math.max(...firstIds));
    // At most one owner write and one task per contact, and a task only where an owner was written.
    const api = writes.filter((w) => w.source === 'api');
    const owners = new Map<string, number>();
    for (const w of api.filter((x) => x.kind === 'owner.set'))
      owners.set(w.objectId, (owners.get(w.objectId) ?? 0) + 1);
    const tasks = new Map<string, number>();
    for (const w of api.filter((x) => x.kind === 'association.created' && x.details['typeId'] === '204'))
      tasks.set(w.details['toId'] ?? '', (tasks.get(w.details['toId'] ?? '') ?? 0) + 1);
    expect([...owners.values()].every((n) => n === 1)).toBe(true);
    expect([...tasks.values()].every((n) => n === 1)).toBe(true);
    for (const contact of tasks.keys()) expect([contact, owners.get(contact)]).toEqual([contact, 1]);
  }, 180_000);
});

describe('RULES naming another rule set', () => {
  it('routes with the rule set’s own team, says so, and the sandbox portal has its reps', async () => {
    // Was: nine "unknown rep" errors, because TEAM defaulted to the demo portal's team file.
    const app = launch('node', { ...env, RULES: 'rules/saas-inbound/rules.yaml', DEMO_RATE: '4' });
    await app.waitFor((o) => decisionLines(o).length >= 8, 'eight leads routed with rules/saas-inbound');
    app.child.kill('SIGTERM');
    await gone(app, 'the app');
    expect(app.out()).toContain(
      '  rules rules/saas-inbound/rules.yaml ("SaaS inbound") with its own team (inline)\n',
    );
    // Leads reach the rule set's reps (or its queues), never "not a user of the CRM portal".
    const owners = decisionLines(app.out()).map((l) => /→ ([^(]+) \(/.exec(l)?.[1]?.trim());
    expect(owners.some((o) => o !== undefined && /Lovelace|Berg|Diaz|Evans|Fischer|Greco/.test(o))).toBe(
      true,
    );
    expect(app.out()).not.toContain('not a user of the CRM portal');
  }, 120_000);
});

describe('CRM=salesforce npm start: the Salesforce sandbox and its demo org', () => {
  interface SfWrite {
    kind: string;
    sobject: string;
    objectId: string;
    source: string;
    details: Record<string, string>;
  }
  const sfWrites = async (): Promise<SfWrite[]> =>
    (
      (await (await fetch(`http://127.0.0.1:${env['SANDBOX_PORT']}/_sandbox/writes`)).json()) as {
        results: SfWrite[];
      }
    ).results;

  it('routes demo leads (owner and task written once each), stops on SIGTERM, and a restart goes on with the same org', async () => {
    const sfEnv = { ...env, CRM: 'salesforce', DEMO_RATE: '4' };
    const first = launch('npm', sfEnv);
    await first.waitFor((o) => decisionLines(o).length >= 5, 'five leads routed in the first run');
    expect(first.out()).toMatch(
      /Salesforce sandbox at http:\/\/127\.0\.0\.1:\d+ \(org 00D\w{15}\), 4 demo leads per second\n/,
    );
    expect(first.out()).toContain('rules rules/salesforce-demo/rules.yaml ("Salesforce demo org")');
    first.child.kill('SIGTERM');
    const exit = await gone(first, 'first run');
    expect(first.out()).toMatch(/lead-router stopped\n$/);
    expect(exit.code).toBe(0);

    const second = launch('npm', sfEnv);
    await second.waitFor((o) => o.includes('continued from DATA_DIR'), 'banner of the second run');
    await second.waitFor((o) => decisionLines(o).length >= 5, 'five leads routed in the second run');
    // A decision line is printed once decided; its owner and task writes follow within the batch (on a
    // loaded machine, seconds later): wait for both before counting.
    // The second run goes on deciding until it is stopped: what is checked is what was decided by now.
    const secondLines = decisionLines(second.out());
    const decidedSoFar = [...decisionLines(first.out()), ...secondLines].map(emailOf);
    const writes = await (async () => {
      for (let i = 0; ; i++) {
        const all = await sfWrites();
        const owned = new Set(
          all.filter((w) => w.source === 'api' && w.kind === 'owner.set').map((w) => w.objectId),
        );
        const tasked = new Set(
          all
            .filter((w) => w.source === 'api' && w.kind === 'record.created' && w.sobject === 'Task')
            .map((w) => w.details['WhoId']),
        );
        const ids = new Map(
          all.filter((w) => w.sobject === 'Lead').map((w) => [w.details['Email'], w.objectId]),
        );
        const done = (e: string): boolean => owned.has(ids.get(e) ?? '') && tasked.has(ids.get(e) ?? '');
        if (decidedSoFar.every(done) || i > 150) return all;
        await sleep(200);
      }
    })();
    second.child.kill('SIGTERM');
    await gone(second, 'second run');
    expect(second.out()).toContain('lead-router stopped');

    // Every lead decided once, across both runs; no lead id used twice.
    const decided = decidedSoFar;
    expect(new Set(decided).size).toBe(decided.length);
    const leads = writes.filter((w) => w.kind === 'record.created' && w.sobject === 'Lead');
    expect(new Set(leads.map((l) => l.objectId)).size).toBe(leads.length);
    const idOf = new Map(leads.map((l) => [l.details['Email'], l.objectId]));
    // Each decided lead has its owner written by us (not the assignment rule) and its task, once each.
    const api = writes.filter((w) => w.source === 'api');
    for (const email of decided) {
      const id = idOf.get(email);
      expect(id).toBeDefined();
      const owners = api.filter(
        (w) => w.kind === 'owner.set' && w.objectId === id && w.details['by'] === 'request',
      );
      const tasks = api.filter(
        (w) => w.kind === 'record.created' && w.sobject === 'Task' && w.details['WhoId'] === id,
      );
      expect([email, owners.length, tasks.length]).toEqual([email, 1, 1]);
    }
    // The second run's leads were created after the first run's (ids go on; the org was kept).
    const order = new Map(leads.map((l, i) => [l.details['Email'], i]));
    const firstAt = decisionLines(first.out()).map((l) => order.get(emailOf(l)) ?? NaN);
    const secondAt = secondLines.map((l) => order.get(emailOf(l)) ?? NaN);
    expect(Math.min(...secondAt)).toBeGreaterThan(Math.max(...firstAt));
  }, 240_000);
});

describe('start-up mistakes: one line, exit code 1, no stack', () => {
  let blocker: Server | undefined;
  afterEach(async () => {
    const b = blocker;
    blocker = undefined;
    if (b !== undefined) await new Promise<void>((ok) => b.close(() => ok()));
  });

  async function failsWith(extra: Record<string, string>, expected: RegExp): Promise<void> {
    const app = launch('node', { ...env, DEMO_RATE: '0', ...extra });
    const exit = await gone(app, 'a start that should fail', 60_000);
    const lines = app
      .err()
      .split('\n')
      .filter((l) => l.trim() !== '');
    expect({ code: exit.code, lines }).toEqual({ code: 1, lines: [expect.stringMatching(expected)] });
    expect(lines[0]).toMatch(/^lead-router: /);
    expect(app.out()).not.toContain('is running');
  }

  it.each([
    [
      'a missing RULES file',
      { RULES: 'rules/nope/rules.yaml' },
      /RULES=rules\/nope\/rules\.yaml: no such file/,
    ],
    ['a missing TEAM file', { TEAM: 'rules/nope/team.yaml' }, /TEAM=rules\/nope\/team\.yaml: no such file/],
    ['a PORT that is not a number', { PORT: 'abc' }, /PORT="abc": expected a port number from 0 to 65535/],
    [
      'a Salesforce login URL without the app',
      { SALESFORCE_LOGIN_URL: 'https://test.salesforce.com' },
      /SALESFORCE_LOGIN_URL set without SALESFORCE_CLIENT_ID/,
    ],
    ['an unknown CRM', { CRM: 'pipedrive' }, /CRM="pipedrive": /],
    ['a PORT out of range', { PORT: '70000' }, /PORT="70000": expected a port number/],
    [
      'a DATABASE_URL that is not PostgreSQL',
      { DATABASE_URL: 'mysql://db/x' },
      /DATABASE_URL="mysql:\/\/db\/x"/,
    ],
    [
      'a DATABASE_URL nobody answers',
      { DATABASE_URL: 'postgres://lead:secret@127.0.0.1:1/x' },
      /cannot open the database at DATABASE_URL \(postgres:\/\/lead:\*\*\*@127\.0\.0\.1:1\/x\): .*ECONNREFUSED/,
    ],
  ])(
    '%s',
    async (_what, extra, expected) => {
      await failsWith(extra, expected);
    },
    70_000,
  );

  it('a DATA_DIR that is a file', async () => {
    const file = join(dir, 'not-a-dir');
    await writeFile(file, 'x');
    await failsWith({ DATA_DIR: file }, /DATA_DIR=.*not-a-dir is not a directory/);
  }, 70_000);

  it.each(['PORT', 'SANDBOX_PORT'])(
    '%s in use names the variable to change',
    async (variable) => {
      const port = Number(env[variable]);
      const b = createServer();
      blocker = b;
      await new Promise<void>((ok) => b.listen(port, '127.0.0.1', ok));
      await failsWith(
        {},
        new RegExp(`port ${port} is in use \\(${variable}=${port}\\): set ${variable} to a free port`),
      );
    },
    70_000,
  );
});
