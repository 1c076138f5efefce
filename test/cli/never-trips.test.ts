// The CLI as a new user meets it, run as the real command (a child process): large and hostile inputs,
// bad rows, readers that stop early, operator commands run from anywhere.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/app/config.js';
import { openAppStorage } from '../../src/app/open-storage.js';
import { main } from '../../src/cli/main.js';
import { makeDecision } from '../storage/helpers.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin/lead-router.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Close our end of stdout at once, as a `| head` that has read its lines does. */
  closeStdout?: boolean;
}

function lr(args: string[], opts: RunOptions = {}): Promise<Result> {
  const env = { ...process.env, ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? REPO, env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  if (opts.closeStdout === true) child.stdout.destroy();
  else child.stdout.on('data', (chunk: string) => (stdout += chunk));
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lead-router-never-trips-'));
  // Everyone goes round robin to two reps: the rule set adds as little work per lead as there is.
  await writeFile(
    join(dir, 'rr.yaml'),
    [
      'pools:',
      '  all: { members: [a@x.io, b@x.io], strategy: round_robin }',
      'routes:',
      '  - name: Everyone',
      '    assign: { pool: all }',
      'fallback: { queue: q }',
      'team: { reps: { a@x.io: {}, b@x.io: {} }, queues: { q: { team: Q } } }',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('simulate on large input', () => {
  it('prints a table of 150,000 leads (once a stack overflow)', async () => {
    const leads = join(dir, 'many.csv');
    const rows = ['email,company,employees'];
    for (let i = 0; i < 150_000; i++) rows.push(`u${i}@co${i}.com,Co ${i},${i % 500}`);
    await writeFile(leads, rows.join('\n') + '\n');
    const r = await lr(['simulate', '--rules', join(dir, 'rr.yaml'), '--leads', leads]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(150_001);
    expect(out[0]).toMatch(/^LEAD\s+ROUTE\s+OWNER\s+ACTIONS$/);
    expect(out[150_000]).toMatch(/^u149999@co149…\s+Everyone\s+b@x\.io$/);
  }, 120_000);

  it('keeps a 10 MB cell to one short line, and names (not echoes) a 10 MB bad value', async () => {
    const leads = join(dir, 'huge-cells.csv');
    const huge = 'x'.repeat(10_000_000);
    await writeFile(
      leads,
      `email,company,employees\n${huge}@big.com,Big,10\nok@fine.com,${huge},20\nbad@worse.com,Worse,${'9'.repeat(10_000_000)}x\n`,
    );
    const r = await lr(['simulate', '--rules', join(dir, 'rr.yaml'), '--leads', leads]);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out).toHaveLength(3);
    for (const line of out) expect(line.length).toBeLessThan(200);
    expect(out[1]).toMatch(/^x{39}…\s+Everyone\s+a@x\.io$/);
    expect(out[2]).toMatch(/^ok@fine\.com\s+Everyone\s+b@x\.io$/);
    expect(lines(r.stderr)).toEqual([
      `error: ${leads} row 4 column employees: "${'9'.repeat(60)}"… (10000001 characters) is not a number`,
      '1 bad row(s) left out; 2 lead(s) decided',
    ]);
  }, 120_000);
});

describe('simulate with bad rows', () => {
  const rules = 'rules/size-segmentation/rules.yaml';
  let leads: string;
  beforeAll(async () => {
    leads = join(dir, 'some-bad.csv');
    await writeFile(
      leads,
      [
        'email,company,employees,created_at',
        'fay@smallco1.com,Small 1,20,2026-11-23T10:00:00Z',
        'a@b.com,B,lots,2026-11-23T10:01:00Z',
        'gus@smallco2.com,Small 2,30,2026-11-23T10:02:00Z',
        'c@d.com,D,20,yesterday-ish',
        'e@f.com,F,20,2026-11-23T10:03:00Z,extra',
        'hal@smallco3.com,Small 3,40,2026-11-23T10:04:00Z',
        'i@j.com,J,many,never',
        '',
      ].join('\n'),
    );
  });

  it('reports every bad row with row and column, decides the rest, writes --state and exits 1', async () => {
    const state = join(dir, 'bad-rows-state.json');
    const r = await lr(['simulate', '--rules', rules, '--leads', leads, '--state', state, '--json']);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      `error: ${leads} row 3 column employees: "lots" is not a number`,
      `error: ${leads} row 5 column created_at: "yesterday-ish" is not a date (use ISO 8601)`,
      `error: ${leads}:6: malformed CSV row: the row has a different number of columns than the header`,
      `error: ${leads} row 8 column employees: "many" is not a number`,
      `error: ${leads} row 8 column created_at: "never" is not a date (use ISO 8601)`,
      `5 bad row(s) left out; 3 lead(s) decided, rotation state written to ${state}`,
    ]);
    const decided = lines(r.stdout).map((l) => (JSON.parse(l) as { lead: string; owner: string }).lead);
    expect(decided).toEqual(['fay@smallco1.com', 'gus@smallco2.com', 'hal@smallco3.com']);
    // Three SMB assignments in the round robin: the rows decided are in the state.
    expect(JSON.parse(await readFile(state, 'utf8'))).toHaveProperty('pools.smb.turn', 3);
  });

  it('stops at the first bad row with --strict, keeping what was decided before it', async () => {
    const state = join(dir, 'strict-state.json');
    const r = await lr(['simulate', '--rules', rules, '--leads', leads, '--state', state, '--strict']);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      `error: ${leads} row 3 column employees: "lots" is not a number`,
      `1 bad row(s) left out (--strict: stopped at the first); 1 lead(s) decided, rotation state written to ${state}`,
    ]);
    expect(
      lines(r.stdout)
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(['fay@smallco1.com']);
    expect(JSON.parse(await readFile(state, 'utf8'))).toHaveProperty('pools.smb.turn', 1);
  });
});

describe('simulate input files that route differently than meant', () => {
  const rules = 'rules/saas-inbound/rules.yaml';
  const leads = 'rules/saas-inbound/leads.csv';

  it('warns about accounts columns the product does not read, with did-you-mean', async () => {
    const accounts = join(dir, 'accounts.csv');
    await writeFile(accounts, 'id,name,domian,owner,status\n1,Acme,acme.com,ada@acme.io,customer\n');
    const r = await lr(['simulate', '--rules', rules, '--leads', leads, '--accounts', accounts]);
    expect(r.code).toBe(0);
    expect(lines(r.stderr)).toEqual([
      `warning: ${accounts} column "domian" is not an account field and is ignored (did you mean "domain"?)`,
      `warning: ${accounts} column "status" is not an account field and is ignored (known: id, name, domain, domains, owner, type, contacts)`,
    ]);
  });

  it.each([
    ['an empty leads file', '', 'has no leads'],
    ['a header-only leads file', 'email,company\n', 'has no leads'],
    ['leads without an email column', 'mail,company\na@b.com,B\n', 'has no email column'],
  ])('warns about %s', async (_name, text, warning) => {
    const file = join(dir, `leads-${warning.replace(/\W/g, '')}.csv`);
    await writeFile(file, text);
    const r = await lr(['simulate', '--rules', rules, '--leads', file, '--json']);
    expect(r.code).toBe(0);
    expect(lines(r.stderr)).toEqual([expect.stringContaining(`warning: ${file} ${warning}`)]);
  });

  it('warns about an empty accounts file', async () => {
    const accounts = join(dir, 'no-accounts.csv');
    await writeFile(accounts, '');
    const r = await lr(['simulate', '--rules', rules, '--leads', leads, '--accounts', accounts, '--json']);
    expect(r.code).toBe(0);
    expect(lines(r.stderr)).toEqual([`warning: ${accounts} has no accounts`]);
  });
});

describe('validate', () => {
  it('says when reps and queues could not be checked for want of a team', async () => {
    // The rules without the team.yaml beside them.
    const rules = join(dir, 'follow-the-sun.yaml');
    await writeFile(rules, await readFile(join(REPO, 'rules/follow-the-sun/rules.yaml'), 'utf8'));
    const r = await lr(['validate', rules]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/: OK — .*; reps and queues NOT checked: no team \(give --team <file>/);
    const checked = await lr(['validate', rules, '--team', 'rules/follow-the-sun/team.yaml']);
    expect(checked.stdout).not.toMatch(/NOT checked/);
  });
});

describe('out of office for part of a day', () => {
  const team = (ooo: string): string =>
    [
      'pools:',
      '  all: { members: [a@x.io, b@x.io], strategy: round_robin }',
      'routes:',
      '  - name: Everyone',
      '    assign: { pool: all }',
      'fallback: { queue: q }',
      'team:',
      '  reps:',
      `    a@x.io: { timezone: Europe/Berlin, out_of_office: [${ooo}] }`,
      '    b@x.io: {}',
      '  queues: { q: { team: Q } }',
      '',
    ].join('\n');

  it('skips a rep during a two-hour absence and takes them again after it, saying why', async () => {
    const rules = join(dir, 'two-hours.yaml');
    await writeFile(rules, team('2026-12-15T14:00..16:00'));
    const leads = join(dir, 'two-hours.csv');
    // 14:30 and 16:00 in Berlin (UTC+1 in December).
    await writeFile(
      leads,
      'email,created_at\nlea@example.com,2026-12-15T13:30:00Z\nmo@example.com,2026-12-15T15:00:00Z\n',
    );
    const r = await lr(['simulate', '--rules', rules, '--leads', leads, '--explain']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'a@x.io <a@x.io> skipped: out of office 2026-12-15 14:00-16:00 (Europe/Berlin)',
    );
    expect(r.stdout.match(/^Outcome: .*$/gm)).toEqual(['Outcome: b@x.io', 'Outcome: a@x.io']);
  });

  it('names file, line and column of a malformed date-time', async () => {
    const rules = join(dir, 'bad-time.yaml');
    await writeFile(rules, team('2026-12-15T14:00..16:00Z, 2026-12-15T14:00'));
    const r = await lr(['validate', rules]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      `error: ${rules}:9:56 team.reps["a@x.io"].out_of_office[0]: invalid date "2026-12-15T14:00..16:00Z": times are the rep's local time (their timezone); drop the offset or Z`,
      `error: ${rules}:9:82 team.reps["a@x.io"].out_of_office[1]: "2026-12-15T14:00" is a moment, not an absence: give its end, e.g. 2026-12-15T14:00..HH:MM`,
      `${rules}: 2 error(s)`,
    ]);
  });
});

describe('readers that stop early and operator commands', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = join(dir, 'data');
    await mkdir(dataDir);
    const storage = await openAppStorage(loadConfig({ DATA_DIR: dataDir }));
    try {
      await storage.createTenant({ id: 't1', provider: 'sandbox', externalId: '42', name: 'Demo' }, 0);
      // Many decisions for one lead: more output than a pipe holds before `head` goes away.
      for (let i = 0; i < 20; i++) {
        const decision = makeDecision({ decidedAt: 1_000 * i, stateChanges: { pools: {}, reps: {} } });
        await storage.commitDecision(
          't1',
          { decisionKey: `lead-1:route:${i}`, decision, email: 'lea@example.com', summary: 'ada' },
          { pools: {}, reps: {} },
          1_000 * i,
        );
      }
    } finally {
      await storage.close();
    }
    const rows = ['email'];
    for (let i = 0; i < 5_000; i++) rows.push(`u${i}@co${i}.com`);
    await writeFile(join(dir, 'some.csv'), rows.join('\n') + '\n');
  });

  it.each([
    ['explain', ['explain', 'lea@example.com']],
    ['simulate --json', ['simulate', '--rules', 'RR', '--leads', 'SOME', '--json']],
  ])(
    '%s | head ends quietly',
    async (_name, args) => {
      const argv = args.map((a) =>
        a === 'RR' ? join(dir, 'rr.yaml') : a === 'SOME' ? join(dir, 'some.csv') : a,
      );
      const r = await lr(argv, { env: { DATA_DIR: dataDir }, closeStdout: true });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    },
    120_000,
  );

  it('dead-letters replay of an id that is not one exits 1 and says so', async () => {
    const r = await lr(['dead-letters', 'replay', '999'], { env: { DATA_DIR: dataDir } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: #999 is not a dead letter of tenant t1');
  });

  it('explain outside the clone says which database it looked for and what to set, creating nothing', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'lead-router-elsewhere-'));
    const r = await lr(['explain', 'lea@example.com'], { cwd: elsewhere, env: { DATA_DIR: 'nope' } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `error: no lead-router database at nope/lead-router.sqlite: run \`npm start\` first, or set DATA_DIR to the app's data directory (SQLite) or DATABASE_URL to its PostgreSQL`,
    );
    expect(existsSync(join(elsewhere, 'nope'))).toBe(false);
    // With nothing set, the defaults are the clone's (its data/, its demo team), not the current directory's.
    const found = await lr(['explain', 'lea@example.com'], {
      cwd: elsewhere,
      env: { DATA_DIR: undefined, TEAM: undefined, DATABASE_URL: undefined },
    });
    expect(found.stderr).not.toMatch(/not found|no tenant is installed/);
    expect(existsSync(join(elsewhere, 'data'))).toBe(false);
    await rm(elsewhere, { recursive: true, force: true });
  });

  it('has --version', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const r = await lr(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it.each([
    [['validate']],
    [['simulate']],
    [['explain']],
    [['dead-letters']],
    [['dead-letters', 'list']],
    [['dead-letters', 'replay']],
  ])('has help for %j', async (command) => {
    // In process: the help text is the same, and a child process per command costs seconds.
    const out: string[] = [];
    const code = await main([...command, '--help'], {
      out: (l) => out.push(l),
      err: () => {},
      clock: () => 0,
    });
    expect(code).toBe(0);
    const [usage, blank, description] = out.join('\n').split('\n');
    expect(usage).toMatch(/^Usage: lead-router /);
    expect(blank).toBe('');
    expect(description).toMatch(/^[a-z].{10,}/);
  });
});
