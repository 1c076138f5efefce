import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { main, type Io } from '../../src/cli/main.js';

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function run(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    clock: () => Date.parse('2026-11-23T10:00:00Z'),
  };
  const code = await main(argv, io);
  return { code, out, err };
}

const EXAMPLES: [string, string[]][] = [
  ['saas-inbound', ['--accounts', 'rules/saas-inbound/accounts.csv']],
  ['size-segmentation', []],
  // Its team.yaml beside the rules is found, as by `npm start` and `validate`.
  ['follow-the-sun', []],
  ['exceptions', ['--accounts', 'rules/exceptions/accounts.csv']],
];

describe.each(EXAMPLES)('example rules/%s', (name, extra) => {
  const rules = `rules/${name}/rules.yaml`;
  const leads = `rules/${name}/leads.csv`;

  it('validates', async () => {
    const teamArgs = extra[0] === '--team' ? extra : [];
    const r = await run('validate', rules, ...teamArgs);
    expect(r.err.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(new RegExp(`^${rules}: OK`));
  });

  it('routes every sample lead as expected.csv says', async () => {
    const r = await run('simulate', '--rules', rules, '--leads', leads, ...extra, '--json');
    expect(r.code).toBe(0);
    const got = r.out.map(
      (l) => JSON.parse(l) as { lead: string; route: { name: string } | null; owner: string },
    );
    const expected = parse<{ lead: string; route: string; owner: string }>(
      await readFile(`rules/${name}/expected.csv`, 'utf8'),
      {
        columns: true,
      },
    );
    expect(got.map((g) => ({ lead: g.lead, route: g.route?.name ?? '(fallback)', owner: g.owner }))).toEqual(
      expected,
    );
  });

  it('explains every decision', async () => {
    const r = await run('simulate', '--rules', rules, '--leads', leads, ...extra, '--explain');
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    const leadCount = (await readFile(leads, 'utf8')).trim().split('\n').length - 1;
    expect(text.match(/^Outcome: /gm)).toHaveLength(leadCount);
    expect(text.match(/^Routes:$/gm)).toHaveLength(leadCount);
  });

  it('is deterministic for the same inputs', async () => {
    const a = await run('simulate', '--rules', rules, '--leads', leads, ...extra, '--json', '--explain');
    const b = await run('simulate', '--rules', rules, '--leads', leads, ...extra, '--json', '--explain');
    expect(a.out).toEqual(b.out);
  });
});

describe('simulate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lead-router-cli-'));
  });

  it('carries rotation state across runs through --state', async () => {
    const state = join(dir, 'state.json');
    const args = [
      'simulate',
      '--rules',
      'rules/size-segmentation/rules.yaml',
      '--leads',
      'rules/size-segmentation/leads.csv',
      '--state',
      state,
      '--json',
    ];
    const first = await run(...args);
    const second = await run(...args);
    const owner = (r: Run, lead: string): string =>
      (JSON.parse(r.out.find((l) => l.includes(`"lead":"${lead}"`)) ?? '{}') as { owner: string }).owner;
    // Round robin continues where the first run stopped instead of resetting.
    expect(owner(first, 'fay@smallco1.com')).toBe('tara@acme.io');
    expect(owner(second, 'fay@smallco1.com')).toBe('uli@acme.io');
    expect(JSON.parse(await readFile(state, 'utf8'))).toHaveProperty('pools.smb.turn', 6);
  });

  it.each<[string, string, RegExp]>([
    ['a missing leads file', 'nope.csv', /^error: leads file not found: nope\.csv$/],
    ['an unsupported file type', 'rules/saas-inbound/rules.yaml', /unsupported leads file type "\.yaml"/],
  ])('reports %s', async (_name, leads, message) => {
    const r = await run('simulate', '--rules', 'rules/size-segmentation/rules.yaml', '--leads', leads);
    expect(r.code).toBe(1);
    expect(r.err.join('\n')).toMatch(message);
  });

  it('names the row of a malformed CSV line', async () => {
    const leads = join(dir, 'bad.csv');
    await writeFile(leads, 'email,company,employees\na@b.com,B,10\nc@d.com,D,20,extra\n');
    const r = await run('simulate', '--rules', 'rules/size-segmentation/rules.yaml', '--leads', leads);
    expect(r.code).toBe(1);
    expect(r.err[0]).toBe(
      `error: ${leads}:3: malformed CSV row: the row has a different number of columns than the header`,
    );
  });

  it('names row and column of a value that does not parse', async () => {
    const leads = join(dir, 'nan.csv');
    await writeFile(leads, 'email,company,employees\na@b.com,B,10\nc@d.com,D,lots\n');
    const r = await run('simulate', '--rules', 'rules/size-segmentation/rules.yaml', '--leads', leads);
    expect(r.err[0]).toBe(`error: ${leads} row 3 column employees: "lots" is not a number`);
  });

  it('rejects a rule field that neither the lead model nor the file has, with a suggestion', async () => {
    const rules = join(dir, 'typo.yaml');
    await writeFile(
      rules,
      'routes:\n  - name: Gold\n    when: { tierr: gold }\n    assign: { queue: q }\nfallback: { queue: q }\nteam: { reps: {}, queues: { q: { team: Q } } }\n',
    );
    const leads = join(dir, 'tier.csv');
    await writeFile(leads, 'email,tier\na@b.com,gold\n');
    const r = await run('simulate', '--rules', rules, '--leads', leads);
    expect(r.code).toBe(1);
    expect(r.err[0]).toBe(
      `error: ${rules} uses field "tierr" (did you mean "tier"?) that is neither a lead field nor a column of ${leads}`,
    );
  });

  it('reads JSON lines and uses --at for leads without a creation time', async () => {
    const leads = join(dir, 'leads.jsonl');
    await writeFile(leads, '{"email":"kid@gmail.com"}\n{"email":"boss@bigcorp.com","employees":5000}\n');
    const r = await run(
      'simulate',
      '--rules',
      'rules/size-segmentation/rules.yaml',
      '--leads',
      leads,
      '--at',
      '2026-11-24T15:00:00Z',
      '--json',
    );
    expect(r.code).toBe(0);
    const decisions = r.out.map((l) => JSON.parse(l) as { decidedAt: number; owner: string });
    expect(decisions.map((d) => [d.decidedAt, d.owner])).toEqual([
      [Date.parse('2026-11-24T15:00:00Z'), '(none)'],
      [Date.parse('2026-11-24T15:00:00Z'), 'olga@acme.io'],
    ]);
  });
});

describe('validate', () => {
  it('reports errors with file:line:col and exits 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-validate-'));
    const rules = join(dir, 'bad.yaml');
    await writeFile(
      rules,
      'pools:\n  emea: { members: [], strategy: weighted, fallback: { queue: q } }\nroutes:\n  - name: A\n    assign: { pool: emae }\nfallback: { queue: q }\n',
    );
    const r = await run('validate', rules);
    expect(r.code).toBe(1);
    expect(r.err.join('\n')).toContain(`${rules}:5:`);
    expect(r.err.join('\n')).toContain('did you mean "emea"?');
  });

  it('names the misaligned key of a YAML indentation mistake, where it is, and what to do', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-validate-'));
    const rules = join(dir, 'bad.yaml');
    await writeFile(
      rules,
      'routes:\n  - name: A\n    assign: { queue: q }\npools:\n  emea: { members: [a@acme.io] }\n   apac: { members: [b@acme.io] }\nfallback: { queue: q }\n',
    );
    const r = await run('validate', rules);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([
      `error: ${rules}:6:4 YAML: "apac" is indented 3 spaces but the keys around it 2: line them up`,
      `${rules}: 1 error(s)`,
    ]);
  });

  it('checks queues and reps against a team.yaml beside the rules, as npm start routes with it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-validate-'));
    const rules = join(dir, 'rules.yaml');
    await writeFile(
      rules,
      'routes:\n  - name: A\n    assign: { rep: ada@acme.io }\nfallback: { queue: EMEAA }\n',
    );
    await writeFile(
      join(dir, 'team.yaml'),
      'reps:\n  ada@acme.io: { timezone: Europe/Berlin }\nqueues:\n  EMEA: { owner: ada@acme.io }\n',
    );
    const r = await run('validate', rules);
    expect(r.code).toBe(1);
    expect(r.err[0]).toBe(
      `error: ${rules}:4:20 fallback.queue: queue "EMEAA" has no CRM target: list it under the team's queues: EMEAA: { owner: email or owner id } or { team: team id or name } (did you mean "EMEA"?)`,
    );

    await writeFile(
      rules,
      'routes:\n  - name: A\n    assign: { rep: ada@acme.io }\nfallback: { queue: EMEA }\n',
    );
    const ok = await run('validate', rules);
    expect(ok.code).toBe(0);
    expect(ok.out[0]).toMatch(new RegExp(`: OK — .*; team: ${join(dir, 'team.yaml')}$`));
  });

  it('warns of a rep the rules send leads to whom the team.yaml beside them marks inactive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-validate-'));
    const rules = join(dir, 'rules.yaml');
    await writeFile(
      rules,
      'routes:\n  - name: A\n    assign: { rep: bo@acme.io }\nfallback: { queue: EMEA }\n',
    );
    await writeFile(
      join(dir, 'team.yaml'),
      'reps:\n  ada@acme.io: {}\n  bo@acme.io: { active: false }\nqueues:\n  EMEA: { owner: ada@acme.io }\n',
    );
    const r = await run('validate', rules);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([
      `warning: ${rules}:3:20 routes[0].assign.rep: the team marks bo@acme.io inactive (active: false), so routing skips this rep and the leads sent to them go to the rule set's fallback`,
    ]);
  });

  it('checks rules that carry their own team against it, not the team.yaml beside them, errors and all', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-validate-'));
    const rules = join(dir, 'rules.yaml');
    // An error elsewhere in the file, and a queue the inline team targets but the file beside does not.
    await writeFile(
      rules,
      'routes:\n  - name: A\n    assign: { pool: nope }\nfallback: { queue: APAC }\nteam:\n  reps: { kim@acme.io: {} }\n  queues: { APAC: { owner: kim@acme.io } }\n',
    );
    await writeFile(
      join(dir, 'team.yaml'),
      'reps:\n  ada@acme.io: {}\nqueues:\n  EMEA: { owner: ada@acme.io }\n',
    );
    const r = await run('validate', rules);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([
      `error: ${rules}:3:21 routes[0].assign.pool: unknown pool "nope"`,
      `${rules}: 1 error(s)`,
    ]);
  });

  it('checks fields against the CRM named by --crm', async () => {
    // The Salesforce demo's demo-request checkbox is the org's custom field, read by its name.
    for (const crm of [[], ['--crm', 'salesforce']]) {
      const r = await run('validate', 'rules/salesforce-demo/rules.yaml', ...crm);
      expect(r.err).toEqual([]);
      expect(r.code).toBe(0);
    }
    // HubSpot's demo_requested is no field of a Salesforce org: those routes would never match there.
    const r = await run(
      'validate',
      'rules/hubspot-demo/rules.yaml',
      '--team',
      'rules/salesforce-demo/team.yaml',
      '--crm',
      'salesforce',
    );
    expect(r.code).toBe(0);
    expect(r.err).toEqual([
      'warning: rules/hubspot-demo/rules.yaml:35:55 routes[1].when.demo_requested: "demo_requested" has no Salesforce field behind it, so it never has a value there: name the Salesforce field itself (custom fields end in "__c")',
      'warning: rules/hubspot-demo/rules.yaml:47:39 routes[2].when.demo_requested: "demo_requested" has no Salesforce field behind it, so it never has a value there: name the Salesforce field itself (custom fields end in "__c")',
    ]);
    expect((await run('validate', 'rules/hubspot-demo/rules.yaml', '--crm', 'pipedrive')).code).toBe(2);
  });

  it('with --crm salesforce, refuses queues that target a team, which Salesforce has not', async () => {
    const r = await run('validate', 'rules/saas-inbound/rules.yaml', '--crm', 'salesforce');
    expect(r.code).toBe(1);
    expect(r.err.filter((l) => l.startsWith('error'))).toEqual(
      [
        ['84:26', 'emea-triage', 'EMEA'],
        ['85:24', 'us-triage', 'NA'],
        ['86:29', 'inbound-triage', 'Inbound'],
      ].map(
        ([at, queue, team]) =>
          `error: rules/saas-inbound/rules.yaml:${at} team.queues.${queue}.team: Salesforce has no teams, so queue "${queue}" cannot land on team ${team}: give it an owner instead, { owner: a user's email, or a Lead queue's name or id (00G…) }`,
      ),
    );
    expect((await run('validate', 'rules/saas-inbound/rules.yaml', '--crm', 'hubspot')).code).toBe(0);
  });

  it('exits 2 on a usage error', async () => {
    const r = await run('simulate', '--leads', 'x.csv');
    expect(r.code).toBe(2);
  });
});

describe('the lead-router bin', () => {
  it('runs as a command and exits with the CLI code', () => {
    const ok = spawnSync(
      process.execPath,
      ['bin/lead-router.js', 'validate', 'rules/saas-inbound/rules.yaml'],
      { encoding: 'utf8' },
    );
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^rules\/saas-inbound\/rules\.yaml: OK/);
    const missing = spawnSync(
      process.execPath,
      ['bin/lead-router.js', 'simulate', '--rules', 'rules/saas-inbound/rules.yaml', '--leads', 'nope.csv'],
      { encoding: 'utf8' },
    );
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('leads file not found: nope.csv');
  });
});
